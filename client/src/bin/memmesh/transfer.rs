//! `memmesh export` and `memmesh import`: moving a tenant's memory between clusters through the
//! export file format (see `memmesh_client::transfer`), and bringing in Mem0 and Letta exports
//! (see `memmesh_client::importers`).

use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use memmesh_client::importers::{self, Skipped, Target};
use memmesh_client::proto::*;
use memmesh_client::transfer::{self, FileError, Header, Record, Writer, FORMAT_VERSION};
use memmesh_client::Client;
use serde_json::json;
use sha2::{Digest, Sha256};
use tonic::{Code, Status};

use crate::args::{ExportArgs, ImportArgs, ImportFormat};
use crate::backup::{io_error, part_of};
use crate::render::Rendered;

type Result<T> = std::result::Result<T, Status>;

fn file_error(path: &Path, e: FileError) -> Status {
    match e {
        FileError::Io(e) => io_error(path, e),
        FileError::Format { .. } => Status::invalid_argument(format!("{}: {e}", path.display())),
    }
}

/// A progress bar on stderr when it is a terminal and the output is not JSON; hidden otherwise.
fn progress(quiet: bool, len: Option<u64>, template: &str) -> ProgressBar {
    let bar = match len {
        Some(n) => ProgressBar::with_draw_target(Some(n), ProgressDrawTarget::hidden()),
        None => ProgressBar::hidden(),
    };
    if !quiet && std::io::IsTerminal::is_terminal(&std::io::stderr()) {
        bar.set_draw_target(ProgressDrawTarget::stderr());
    }
    bar.set_style(ProgressStyle::with_template(template).unwrap_or_else(|_| ProgressStyle::default_bar()));
    bar
}

/// Streams the export into `FILE.part` and renames it once complete and synced: a FILE that
/// exists holds a whole export.
pub async fn export(c: &mut Client, a: ExportArgs, quiet: bool) -> Result<Rendered> {
    let started = Instant::now();
    let req = ExportRequest { tenant: a.tenant.clone(), user: a.user.clone(), as_of_revision: a.as_of_revision, history: a.history };
    let mut stream = c.admin.export(req).await?.into_inner();
    let part = part_of(&a.out);
    let bar = progress(quiet, None, "{spinner} {pos} cubes {per_sec} {elapsed}");
    let result: Result<(u64, transfer::End)> = async {
        let mut writer: Option<Writer<Box<dyn Write>>> = None;
        let mut revision = 0;
        while let Some(chunk) = stream.message().await? {
            let w = match writer.as_mut() {
                Some(w) => w,
                None => {
                    revision = chunk.revision;
                    let header = Header {
                        format_version: FORMAT_VERSION,
                        tenant: a.tenant.clone(),
                        user: a.user.clone(),
                        revision,
                        history: a.history,
                        exported_at_ms: now_ms(),
                        source: "memmesh export".into(),
                    };
                    let out = transfer::create(&part, transfer::compressed(&a.out)).map_err(|e| io_error(&part, e))?;
                    writer.insert(Writer::new(out, &header).map_err(|e| file_error(&part, e))?)
                }
            };
            for p in &chunk.policies {
                w.policy(p).map_err(|e| file_error(&part, e))?;
            }
            let n = chunk.cubes.len() as u64;
            for cube in chunk.cubes {
                w.cube(cube).map_err(|e| file_error(&part, e))?;
            }
            bar.inc(n);
        }
        let w = writer.ok_or_else(|| Status::internal("the node ended the export without a chunk"))?;
        let (out, end) = w.finish().map_err(|e| file_error(&part, e))?;
        drop(out); // finishes the gzip stream and flushes the buffer
        std::fs::File::open(&part).and_then(|f| f.sync_all()).map_err(|e| io_error(&part, e))?;
        Ok((revision, end))
    }
    .await;
    bar.finish_and_clear();
    let (revision, end) = match result {
        Ok(r) => r,
        Err(e) => {
            let _ = std::fs::remove_file(&part);
            return Err(e);
        }
    };
    std::fs::rename(&part, &a.out).map_err(|e| io_error(&a.out, e))?;
    let bytes = std::fs::metadata(&a.out).map(|m| m.len()).unwrap_or(0);
    let secs = started.elapsed().as_secs_f64();
    let out = a.out.display().to_string();
    Ok(Rendered::new(
        json!({ "file": out, "revision": revision, "cubes": end.cubes, "policies": end.policies, "bytes": bytes, "seconds": secs }),
        format!("exported {} cubes and {} policies of revision {revision} to {out} ({bytes} bytes, {secs:.1} s)", end.cubes, end.policies),
    ))
}

/// Milliseconds since the epoch, by this machine's clock.
fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

/// What an import did.
#[derive(Default)]
struct Counts {
    imported: u64,
    existing: u64,
    policies: u64,
    /// `--as-new`: cubes not written because they were deleted or expired.
    not_live: u64,
}

/// Sends batches of cubes: `Admin.Import` (kept as they were) or, with `--as-new`, `PutBatch`
/// (new cubes, for writers who are not tenant admins).
struct Sender<'a> {
    c: &'a mut Client,
    tenant: String,
    /// `--tenant` was given: cubes and policies move into it (else a cube of another tenant
    /// than the file's is refused by the node, naming it).
    retenant: bool,
    as_new: bool,
    batch: usize,
    cubes: Vec<ExportedCube>,
    versions: usize,
    bytes: usize,
    policies: Vec<Policy>,
    counts: Counts,
}

/// Import requests are safe to repeat (existing ids are skipped; a put batch carries a request
/// id derived from its cubes), so a request the node could not take is retried.
async fn retry<T, F, Fut>(mut call: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T>>,
{
    let mut wait = Duration::from_millis(200);
    for _ in 0..8 {
        match call().await {
            Err(s) if matches!(s.code(), Code::Unavailable | Code::DeadlineExceeded) => {
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(Duration::from_secs(5));
            }
            other => return other,
        }
    }
    call().await
}

impl Sender<'_> {
    async fn add(&mut self, mut e: ExportedCube) -> Result<()> {
        if self.retenant {
            retenant(&mut e, &self.tenant);
        }
        let size = prost::Message::encoded_len(&e);
        if !self.cubes.is_empty() && (self.versions + 1 + e.history.len() > self.batch || self.bytes + size > 16 << 20) {
            self.flush().await?;
        }
        self.versions += 1 + e.history.len();
        self.bytes += size;
        self.cubes.push(e);
        Ok(())
    }

    async fn flush(&mut self) -> Result<()> {
        let cubes = std::mem::take(&mut self.cubes);
        (self.versions, self.bytes) = (0, 0);
        if self.as_new {
            return self.put_new(cubes).await;
        }
        let req = ImportRequest { tenant: self.tenant.clone(), cubes, policies: std::mem::take(&mut self.policies) };
        let r = retry(|| {
            let mut admin = self.c.admin.clone();
            let req = req.clone();
            async move { admin.import(req).await.map(|r| r.into_inner()) }
        })
        .await?;
        self.counts.imported += r.imported;
        self.counts.existing += r.existing;
        self.counts.policies += r.policies_imported;
        Ok(())
    }

    async fn put_new(&mut self, cubes: Vec<ExportedCube>) -> Result<()> {
        let live = |c: &MemCube| matches!(CubeState::try_from(c.state), Ok(CubeState::Active | CubeState::Archived));
        let mut digest = Sha256::new();
        let mut inputs = Vec::new();
        for c in cubes.into_iter().filter_map(|e| e.cube) {
            if !live(&c) {
                self.counts.not_live += 1;
                continue;
            }
            digest.update(c.id.as_bytes());
            inputs.push(CubeInput {
                scope: c.scope,
                kind: c.kind,
                content: c.content,
                memory_type: c.memory_type,
                custom_type: c.custom_type,
                source: c.source,
                provenance: c.provenance.map(|p| Provenance { request_id: String::new(), ..p }),
                tags: c.tags,
                attributes: c.attributes,
                importance: c.importance,
                ttl_seconds: c.ttl_seconds,
                embedding: None,
                context: c.context,
                acl: c.acl,
                slot: c.slot,
                links: Vec::new(),
                pinned: c.pinned,
            });
        }
        if inputs.is_empty() {
            return Ok(());
        }
        let n = inputs.len() as u64;
        let request_id = format!("import-{}", hex_prefix(&digest.finalize()));
        let req = PutBatchRequest { cubes: inputs, request_id, ..Default::default() };
        let r = retry(|| {
            let mut memory = self.c.memory.clone();
            let req = req.clone();
            async move { memory.put_batch(req).await.map(|r| r.into_inner()) }
        })
        .await?;
        if r.deduplicated {
            self.counts.existing += n;
        } else {
            self.counts.imported += n;
        }
        Ok(())
    }
}

fn hex_prefix(d: &[u8]) -> String {
    d.iter().take(16).map(|b| format!("{b:02x}")).collect()
}

/// Moves a cube (and its past versions) to another tenant.
fn retenant(e: &mut ExportedCube, tenant: &str) {
    for c in e.cube.iter_mut().chain(e.history.iter_mut()) {
        if let Some(s) = c.scope.as_mut() {
            s.tenant = tenant.to_string();
        }
    }
}

pub async fn import(c: &mut Client, a: ImportArgs, quiet: bool) -> Result<Rendered> {
    let started = Instant::now();
    let len = std::fs::metadata(&a.file).map_err(|e| io_error(&a.file, e))?.len();
    let bar = progress(quiet, Some(len), "{bar:40} {bytes}/{total_bytes} {binary_bytes_per_sec} eta {eta}");
    let mut skipped = Skipped::default();
    let mut sender = Sender {
        c,
        tenant: String::new(),
        retenant: a.tenant.is_some(),
        as_new: a.as_new,
        batch: a.batch.max(1),
        cubes: Vec::new(),
        versions: 0,
        bytes: 0,
        policies: Vec::new(),
        counts: Counts::default(),
    };
    match a.from {
        ImportFormat::Memmesh => {
            let b = bar.clone();
            let input = transfer::open(&a.file, move |n| b.set_position(n)).map_err(|e| io_error(&a.file, e))?;
            let mut reader = transfer::Reader::new(input);
            while let Some(rec) = reader.next_record().map_err(|e| file_error(&a.file, e))? {
                match rec {
                    Record::Header(h) => sender.tenant = a.tenant.clone().unwrap_or(h.tenant),
                    Record::Policy(mut p) => {
                        if let Some(s) = p.scope.as_mut().filter(|_| sender.retenant) {
                            s.tenant = sender.tenant.clone();
                        }
                        if !a.as_new {
                            sender.policies.push(p);
                        }
                    }
                    Record::Cube(e) => sender.add(e).await?,
                    Record::End(_) => {}
                }
            }
        }
        ImportFormat::Mem0 | ImportFormat::Letta => {
            let Some(tenant) = a.tenant.clone() else {
                return Err(Status::invalid_argument("--tenant is required when importing from another system"));
            };
            let text = std::fs::read_to_string(&a.file).map_err(|e| io_error(&a.file, e))?;
            let target = Target { tenant: tenant.clone(), user: a.user.clone().unwrap_or_default(), now_ms: now_ms() };
            let converted = match a.from {
                ImportFormat::Mem0 => importers::mem0(&text, &target),
                _ => {
                    if target.user.is_empty() {
                        return Err(Status::invalid_argument("--user is required for a Letta agent file (its memories belong to one user)"));
                    }
                    importers::letta(&text, &target)
                }
            };
            let (cubes, s) = converted.map_err(|e| Status::invalid_argument(format!("{}: {e}", a.file.display())))?;
            skipped = s;
            sender.tenant = tenant;
            for e in cubes {
                sender.add(e).await?;
            }
            bar.set_position(len);
        }
    }
    if !sender.cubes.is_empty() || !sender.policies.is_empty() {
        sender.flush().await?;
    }
    bar.finish_and_clear();
    let n = sender.counts;
    let secs = started.elapsed().as_secs_f64();
    let file = a.file.display().to_string();
    let mut text = format!("imported {} cubes, {} already there, {} policies from {file} in {secs:.1} s", n.imported, n.existing, n.policies);
    if n.not_live > 0 {
        text.push_str(&format!("; {} deleted or expired cubes not written (--as-new)", n.not_live));
    }
    if skipped.empty + skipped.messages > 0 {
        text.push_str(&format!("; skipped {} records without text and {} non-conversation messages", skipped.empty, skipped.messages));
    }
    Ok(Rendered::new(
        json!({
            "file": file, "tenant": sender.tenant, "imported": n.imported, "existing": n.existing, "policies": n.policies,
            "not_live": n.not_live, "skipped_empty": skipped.empty, "skipped_messages": skipped.messages, "seconds": secs,
        }),
        text,
    ))
}
