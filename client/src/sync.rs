//! `memmesh sync`: a local mirror of one scope that follows the server.
//!
//! Layout of the mirror directory:
//! - `cubes/<id>.json` — one file per cube, the JSON of [`crate::json::cube`], current version;
//! - `state.json` — `{"scope": {...}, "revision": R}`: everything up to revision R is mirrored.
//!
//! Algorithm (Kubernetes' list-then-watch, made safe without a consistent multi-page list):
//! 1. With no state (or another scope, or a compacted revision): list every cube of the scope in
//!    every state, noting the *first* page's `read_revision` R; write the files, delete files of
//!    cubes not listed; the mirror is then "at R" in the sense below.
//! 2. Subscribe from R + 1 and apply each event: write the cube after the change if its version
//!    is newer than the file's, delete the file on PURGED. Pages listed after R may already show
//!    later changes; replaying those events is harmless because a file only moves forward in
//!    version. After each applied batch (and on progress bookmarks) `state.json` is rewritten
//!    (atomically, via rename), so a restart resumes where it stopped.
//!
//! Every file write is write-to-temp + rename, so a crash never leaves a torn file.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use memmesh_proto::{CubeState, EventBatch, EventType, ListOrder, ListRequest, MemCube, Scope, StatusRequest, SubscribeRequest};
use serde_json::{json, Value};
use tokio_stream::StreamExt;
use tonic::Code;

use crate::subscribe::{subscribe, FeedItem};
use crate::{json, Client};

#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error("mirror directory {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{0}")]
    Rpc(#[from] tonic::Status),
    #[error(transparent)]
    Connect(#[from] crate::ConnectError),
    #[error("corrupt mirror state {path}: {detail}")]
    Corrupt { path: PathBuf, detail: String },
}

/// What a sync run did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncReport {
    /// True if the run started with a full listing (no usable state).
    pub full: bool,
    pub revision: u64,
    pub cubes: usize,
    pub events_applied: u64,
}

impl SyncReport {
    pub fn to_json(&self) -> Value {
        json!({ "mode": if self.full { "full" } else { "resume" }, "revision": self.revision, "cubes": self.cubes, "events_applied": self.events_applied })
    }
}

pub struct Mirror {
    dir: PathBuf,
    scope: Scope,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> SyncError + '_ {
    move |source| SyncError::Io { path: path.to_path_buf(), source }
}

/// Writes `bytes` to `path` through a temporary file and a rename.
fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), SyncError> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, bytes).map_err(io(&tmp))?;
    std::fs::rename(&tmp, path).map_err(io(path))
}

impl Mirror {
    pub fn new(dir: &Path, scope: Scope) -> Result<Mirror, SyncError> {
        std::fs::create_dir_all(dir.join("cubes")).map_err(io(dir))?;
        Ok(Mirror { dir: dir.to_path_buf(), scope })
    }

    fn cube_path(&self, id: &str) -> PathBuf {
        self.dir.join("cubes").join(format!("{id}.json"))
    }

    /// The revision the mirror is at, if it mirrors this scope.
    fn load_revision(&self) -> Result<Option<u64>, SyncError> {
        let path = self.dir.join("state.json");
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io(&path)(e)),
        };
        let v: Value = serde_json::from_str(&text).map_err(|e| SyncError::Corrupt { path: path.clone(), detail: e.to_string() })?;
        if v["scope"] != json::scope(&self.scope) {
            return Ok(None); // a different scope: start over
        }
        Ok(v["revision"].as_u64())
    }

    fn save_revision(&self, revision: u64) -> Result<(), SyncError> {
        let v = json!({ "scope": json::scope(&self.scope), "revision": revision });
        write_atomic(&self.dir.join("state.json"), v.to_string().as_bytes())
    }

    fn file_version(&self, id: &str) -> Option<u64> {
        let text = std::fs::read_to_string(self.cube_path(id)).ok()?;
        serde_json::from_str::<Value>(&text).ok()?["version"].as_u64()
    }

    fn write_cube(&self, c: &MemCube) -> Result<bool, SyncError> {
        if self.file_version(&c.id).is_some_and(|v| v >= c.version) {
            return Ok(false);
        }
        write_atomic(&self.cube_path(&c.id), json::cube(c).to_string().as_bytes())?;
        Ok(true)
    }

    fn remove_cube(&self, id: &str) -> Result<(), SyncError> {
        match std::fs::remove_file(self.cube_path(id)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(io(&self.cube_path(id))(e)),
            _ => Ok(()),
        }
    }

    /// Ids of the cubes currently mirrored.
    pub fn ids(&self) -> Result<HashSet<String>, SyncError> {
        let dir = self.dir.join("cubes");
        let mut out = HashSet::new();
        for e in std::fs::read_dir(&dir).map_err(io(&dir))? {
            let name = e.map_err(io(&dir))?.file_name().to_string_lossy().into_owned();
            if let Some(id) = name.strip_suffix(".json") {
                out.insert(id.to_string());
            }
        }
        Ok(out)
    }

    /// Full listing; returns the revision the mirror is then at.
    async fn relist(&self, c: &mut Client) -> Result<u64, SyncError> {
        let all_states = vec![CubeState::Active as i32, CubeState::Archived as i32, CubeState::Deleted as i32];
        let mut req = ListRequest {
            scope: Some(self.scope.clone()),
            states: all_states,
            order: ListOrder::OldestFirst as i32,
            page_size: 1000,
            ..Default::default()
        };
        let mut first_revision = None;
        let mut listed = HashSet::new();
        loop {
            let page = c.memory.list(req.clone()).await?.into_inner();
            first_revision.get_or_insert(page.read_revision);
            for cube in &page.cubes {
                self.write_cube(cube)?;
                listed.insert(cube.id.clone());
            }
            if page.next_page_token.is_empty() {
                break;
            }
            req.page_token = page.next_page_token;
        }
        for id in self.ids()?.difference(&listed) {
            self.remove_cube(id)?;
        }
        let r = first_revision.unwrap_or(0);
        self.save_revision(r)?;
        Ok(r)
    }

    fn apply(&self, b: &EventBatch) -> Result<u64, SyncError> {
        let mut n = 0;
        for e in &b.events {
            let Some(cube) = &e.cube else { continue };
            if e.r#type == EventType::Purged as i32 {
                self.remove_cube(&cube.id)?;
            } else if cube.content.is_some() {
                self.write_cube(cube)?;
            }
            // An event whose cube has since been purged carries no content; the PURGED event
            // that follows removes the file, so there is nothing to write for it.
            n += 1;
        }
        self.save_revision(b.revision)?;
        Ok(n)
    }

    /// Brings the mirror up to the server's applied revision at the time of the call, then
    /// returns (`until_head`), or follows forever (`!until_head`).
    pub async fn sync(&self, addrs: &[String], until_head: bool) -> Result<SyncReport, SyncError> {
        let mut c = Client::connect(&addrs[0]).await?;
        let head = c.cluster.status(StatusRequest {}).await?.into_inner().applied_index;
        let (mut full, mut revision) = match self.load_revision()? {
            Some(r) => (false, r),
            None => (true, self.relist(&mut c).await?),
        };
        let mut events_applied = 0;
        'outer: loop {
            if until_head && revision >= head {
                break;
            }
            let req =
                SubscribeRequest { scope: Some(self.scope.clone()), start_revision: revision + 1, progress_notify_ms: 50, ..Default::default() };
            let mut stream = subscribe(addrs.to_vec(), req);
            while let Some(item) = stream.next().await {
                match item {
                    Ok(FeedItem::Events(b)) => {
                        events_applied += self.apply(&b)?;
                        revision = b.revision;
                    }
                    Ok(FeedItem::Progress(r)) => {
                        if r > revision {
                            revision = r;
                            self.save_revision(r)?;
                        }
                    }
                    Err(s) if s.code() == Code::OutOfRange => {
                        // The history we needed is compacted: start over from a listing.
                        full = true;
                        revision = self.relist(&mut c).await?;
                        continue 'outer;
                    }
                    Err(s) => return Err(s.into()),
                }
                if until_head && revision >= head {
                    break 'outer;
                }
            }
        }
        Ok(SyncReport { full, revision, cubes: self.ids()?.len(), events_applied })
    }
}
