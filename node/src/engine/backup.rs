//! Backups: a consistent copy of the replicated state for `Admin.Backup` (see `store::backup`).

use crate::store::backup::BackupFile;

use super::{ApiError, Core};

impl Core {
    /// Writes a backup holding every write acknowledged before this call: a linearizable read
    /// barrier first (the replica has applied everything committed when the call arrived), then
    /// a copy of the state at an entry boundary.
    pub async fn backup(&self) -> Result<BackupFile, ApiError> {
        self.read_barrier(None).await?;
        let backups = self.backups.clone();
        tokio::task::spawn_blocking(move || backups.write())
            .await
            .map_err(|e| ApiError::Internal(format!("backup task: {e}")))?
            .map_err(ApiError::from)
    }
}
