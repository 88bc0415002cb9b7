//! `memmesh backup` and `memmesh health`.

use std::io::Write;
use std::path::Path;

use indicatif::{ProgressBar, ProgressStyle};
use memmesh_client::proto::BackupRequest;
use memmesh_client::Client;
use serde_json::json;
use sha2::{Digest, Sha256};
use tonic::Status;

use crate::args::BackupArgs;
use crate::render::Rendered;

type Result<T> = std::result::Result<T, Status>;

pub(crate) fn io_error(path: &Path, e: impl std::fmt::Display) -> Status {
    Status::internal(format!("{}: {e}", path.display()))
}

/// Where a file is written until it is complete: `FILE.part` (renamed to FILE at the end, so a
/// FILE that exists is whole).
pub(crate) fn part_of(out: &Path) -> std::path::PathBuf {
    let mut p = out.as_os_str().to_owned();
    p.push(".part");
    std::path::PathBuf::from(p)
}

/// Streams the backup into `FILE.part` (with a progress bar on a terminal), checks its length
/// and its trailing SHA-256, fsyncs it and renames it to FILE: a FILE that exists is complete.
pub async fn backup(c: &mut Client, a: BackupArgs) -> Result<Rendered> {
    let mut stream = c.admin.backup(BackupRequest {}).await?.into_inner();
    let part = part_of(&a.out);
    let mut file = std::fs::File::create(&part).map_err(|e| io_error(&part, e))?;
    let bar = ProgressBar::hidden();
    let (mut revision, mut total, mut written) = (0, 0, 0u64);
    // Hashed as it arrives: the file ends with the SHA-256 of everything before it.
    let mut digest = Sha256::new();
    let mut tail: Vec<u8> = Vec::new();
    let result: Result<()> = async {
        while let Some(chunk) = stream.message().await? {
            if written == 0 {
                (revision, total) = (chunk.revision, chunk.total_bytes);
                if std::io::IsTerminal::is_terminal(&std::io::stderr()) {
                    bar.set_draw_target(indicatif::ProgressDrawTarget::stderr());
                }
                bar.set_length(total);
                bar.set_style(
                    ProgressStyle::with_template("{bar:40} {bytes}/{total_bytes} {binary_bytes_per_sec} eta {eta}")
                        .unwrap_or_else(|_| ProgressStyle::default_bar()),
                );
            }
            file.write_all(&chunk.data).map_err(|e| io_error(&part, e))?;
            written += chunk.data.len() as u64;
            bar.set_position(written);
            // Keep the last 32 bytes out of the digest until the end.
            tail.extend_from_slice(&chunk.data);
            if tail.len() > 32 {
                let cut = tail.len() - 32;
                digest.update(&tail[..cut]);
                tail.drain(..cut);
            }
        }
        if written != total || tail.len() != 32 || digest.finalize().as_slice() != tail.as_slice() {
            return Err(Status::data_loss(format!("the backup arrived damaged or incomplete ({written} of {total} bytes); nothing was kept")));
        }
        file.sync_all().map_err(|e| io_error(&part, e))?;
        Ok(())
    }
    .await;
    bar.finish_and_clear();
    if let Err(e) = result {
        let _ = std::fs::remove_file(&part);
        return Err(e);
    }
    std::fs::rename(&part, &a.out).map_err(|e| io_error(&a.out, e))?;
    let out = a.out.display().to_string();
    Ok(Rendered::new(json!({ "file": out, "revision": revision, "bytes": total }), format!("backup of revision {revision}: {total} bytes in {out}")))
}

/// The node's gRPC health: SERVING or an error (a non-zero exit).
pub async fn health(c: &mut Client) -> Result<Rendered> {
    let req = tonic_health::pb::HealthCheckRequest { service: String::new() };
    let status = c.health.check(req).await?.into_inner().status();
    if status != tonic_health::pb::health_check_response::ServingStatus::Serving {
        return Err(Status::unavailable(format!("the node reports {}", status.as_str_name())));
    }
    Ok(Rendered::new(json!({ "status": "SERVING" }), "SERVING".into()))
}
