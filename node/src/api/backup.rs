//! `Admin.Backup`: streams a backup file (see `store::backup`) to a cluster admin.

use std::io::Read;

use memmesh_proto::BackupChunk;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::Status;

use super::ApiError;
use crate::auth::Caller;
use crate::engine::Core;

/// Bytes per streamed chunk.
const CHUNK: usize = 1 << 20;

pub type BackupStream = ReceiverStream<Result<BackupChunk, Status>>;

/// Takes a backup and streams it; the file is removed once sent (or once the client is gone).
pub async fn stream(core: &Core, who: &Caller) -> Result<BackupStream, ApiError> {
    if !who.is_cluster_admin() {
        return Err(ApiError::PermissionDenied("a backup holds every tenant's data: cluster admins only".into()));
    }
    let file = core.backup().await?;
    tracing::info!(revision = file.revision, bytes = file.bytes, "backup taken; streaming it");
    let (tx, rx) = mpsc::channel(4);
    tokio::task::spawn_blocking(move || {
        let send = |chunk: Result<Vec<u8>, Status>| {
            let msg = chunk.map(|data| BackupChunk { revision: file.revision, total_bytes: file.bytes, data });
            tx.blocking_send(msg).is_ok()
        };
        match std::fs::File::open(&file.path) {
            Err(e) => drop(send(Err(Status::from(ApiError::Internal(format!("backup file: {e}")))))),
            Ok(mut f) => loop {
                let mut buf = vec![0; CHUNK];
                match f.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => {
                        buf.truncate(n);
                        if !send(Ok(buf)) {
                            break;
                        }
                    }
                    Err(e) => {
                        send(Err(Status::from(ApiError::Internal(format!("backup file: {e}")))));
                        break;
                    }
                }
            },
        }
        let _ = std::fs::remove_file(&file.path);
    });
    Ok(ReceiverStream::new(rx))
}
