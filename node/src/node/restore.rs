//! `memmesh-node --restore FILE`: the first node of a new cluster, from a backup.
//!
//! Runs inside [`super::Node::start_restored`] once the listener is bound (the new membership
//! names the address the node advertises, which with port 0 is known only then) and before
//! the databases are opened for serving. The data directory must be new (no node id, no
//! databases): restoring over a node's data would reuse its Raft identity with another
//! history. The node has a new random id; the other members join it with `--join` as usual and
//! receive the state as a snapshot.

use std::path::Path;

use super::NodeError;
use crate::raft::NodeId;
use crate::store;

/// Writes the backup `file` into the new data directory `dir` of node `id` (whose id file was
/// just `created`), advertised at `addr`. Returns the backup's revision: every write
/// acknowledged with a revision up to it is restored, none after it.
pub(super) fn restore(dir: &Path, file: &Path, id: NodeId, created: bool, addr: &str) -> Result<u64, NodeError> {
    if !created {
        return Err(NodeError::Restore(format!("{} already belongs to node {id}; restore into an empty data directory", dir.display())));
    }
    let restored = std::fs::read(file)
        .map_err(|e| NodeError::Restore(format!("cannot read {}: {e}", file.display())))
        .and_then(|data| Ok(store::open(dir).and_then(|dbs| store::backup::restore(&dbs, &dir.join("snapshots"), &data, id, addr))?));
    let revision = restored.inspect_err(|_| {
        // Leave no half-made node behind (the directory held nothing before): a retry starts
        // from an empty directory again.
        for sub in ["db", "raft", "snapshots"] {
            let _ = std::fs::remove_dir_all(dir.join(sub));
        }
        let _ = std::fs::remove_file(dir.join("node_id"));
    })?;
    tracing::info!(node_id = id, revision, file = %file.display(), "restored a backup; starting a new cluster from it");
    Ok(revision)
}
