//! The search index: what `Memory.Search` queries. Derived state, kept in memory, rebuilt from
//! RocksDB when a node starts (or installs a snapshot) and updated by `apply` as each write
//! lands — before the write's revision is published as applied, so a read that waits for a
//! revision (linearizable or `min_revision`) also finds it in the index.
//!
//! - [`dense`]: vector scan over per-scope contiguous vectors — exact, or for big scans by int8
//!   first with the best candidates rescored exactly (`search.quantized_min_vectors`), and for
//!   bigger ones by sign bits before that (`search.binary_min_vectors`).
//! - [`lexical`]: BM25 over cube text, per tenant.
//! - this module: the documents (what is indexed of each cube; filtered by [`Filter`], the one
//!   cube filter of `model`) and the queries.
//! - [`query`]: running a query: both scans (side by side on two threads when big, see
//!   `search.query_threads`) and the fusion of their rankings.
//! - `adapters`: the adapter cubes of each scope, for AUTO search (`model::adapter`).
//! - `sharded`: the hash map the big maps here are kept in (documents by id, exact texts, a
//!   term's postings), which grows in shards so that no update rehashes a million entries
//!   under the write lock.
//! - `lifecycle`: a cube's current version as the expiry sweep's apply judges it, and the
//!   change of state an expiry makes, without reading the cube's record.
//! - `duplicates`: finding the cube a new one duplicates (write-time deduplication, asked by
//!   `apply`: the index is replicated state's derivative, identical on every replica).
//!
//! Scope and filters are applied *inside* both scans — a document outside the caller's scopes
//! is never scored — so a small scope inside a big tenant still gets its full `k` results.
//! So are per-cube ACLs: each tenant keeps the set of its documents that carry one, so a search
//! also scores the cubes shared with the caller outside the scopes its scope rule reaches, and
//! skips restricted cubes that do not name it (see [`Viewer`]).
//! Ties break by cube id, so every replica with the same applied state answers identically.

mod adapters;
pub mod dense;
mod duplicates;
pub mod lexical;
mod lifecycle;
mod query;
mod sharded;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::hash::{BuildHasher, RandomState};
use std::sync::RwLock;

use memmesh_proto::{Acl, MemCube, Scope};
use ulid::Ulid;

use self::dense::Bucket;
use self::lexical::{term_counts, Lexical};
pub use self::lifecycle::Indexed;
use self::sharded::Sharded;
use crate::auth::{Caller, Need};
use crate::model::dedupe::text_key;
use crate::model::{scope_matches, Facets, Filter};

/// The default of `search.quantized_min_vectors`: below it an exact f32 scan costs under a
/// millisecond, so it stays exact.
pub const QUANTIZED_MIN_VECTORS: usize = 8_192;

/// The default of `search.binary_min_vectors`: from here a dense scan ranks by sign bits before
/// the int8 pass (see `dense`).
pub const BINARY_MIN_VECTORS: usize = 65_536;

/// The default of `search.query_threads`: this machine's two cores.
pub const QUERY_THREADS: usize = 2;

/// How a hybrid search combines its two rankings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Fusion {
    /// `w · dense' + (1 − w) · lexical'`, each signal scaled to [0, 1] over the scanned scope.
    Convex { dense_weight: f32 },
    /// Reciprocal rank fusion.
    Rrf,
}

/// Which rankings a search uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Dense,
    Lexical,
    Hybrid,
}

/// Who searches, for the per-cube ACL checks made inside the scan.
#[derive(Debug, Clone)]
pub struct Viewer {
    pub caller: Caller,
    /// The scopes the caller asked for. [`Query::scopes`] holds the parts of them the scope rule
    /// and grants let it read; a cube whose ACL names the caller is found anywhere inside these.
    pub requested: Vec<Scope>,
}

#[derive(Debug, Clone)]
pub struct Query {
    /// One tenant; a document matches if it lies inside any of these scopes (and, with a
    /// viewer, its ACL does not exclude the viewer).
    pub scopes: Vec<Scope>,
    /// `None` = the scopes alone decide (an admin of the tenant, or authentication off).
    pub viewer: Option<Viewer>,
    pub filter: Filter,
    pub k: usize,
    pub mode: Mode,
    pub fusion: Fusion,
    /// Needed for lexical and hybrid.
    pub text: String,
    /// Needed for dense and hybrid (the embedded query, or a raw vector).
    pub vector: Option<Vec<f32>>,
}

/// One result, with each signal's score and 1-based rank (rank 0 = not in that ranking's
/// candidates; the score is still computed when the document has a vector / matching terms).
#[derive(Debug, Clone, PartialEq)]
pub struct Hit {
    pub id: Ulid,
    pub score: f32,
    pub dense: Option<f32>,
    pub dense_rank: u32,
    pub lexical: Option<f32>,
    pub lexical_rank: u32,
}

#[derive(Default)]
struct Doc {
    id: Ulid,
    /// The version indexed (what an expiry is judged by, see `lifecycle`).
    version: u64,
    scope: Scope,
    state: i32,
    memory_type: i32,
    kind: i32,
    /// Key of the normalised text, for write-time deduplication (`None`: never a duplicate
    /// target — not PLAINTEXT, no text, or restricted by its ACL).
    text_key: Option<[u8; 16]>,
    /// The slot the cube names, if any (see `model::links`).
    slot: Option<Box<str>>,
    source: i32,
    tags: Vec<String>,
    attributes: BTreeMap<String, String>,
    created: i64,
    updated: i64,
    /// Expiry time (0 = never) and pin: a search judges expiry at its own time.
    expires: i64,
    pinned: bool,
    terms: Vec<(String, u32)>,
    len: u32,
    /// What `terms`, `len` and `text_key` were computed from (see [`SearchIndex::text_of`]).
    text_hash: u64,
    /// Position in its scope's member list.
    member: u32,
    /// Position in its scope's bucket, if it has a vector.
    dense: Option<u32>,
    acl: Option<Box<Acl>>,
}

type ScopeKey = (String, String, String);

fn scope_key(s: &Scope) -> ScopeKey {
    (s.user.clone(), s.agent.clone(), s.run.clone())
}

fn key_matches(filter: &Scope, k: &ScopeKey) -> bool {
    let eq = |f: &str, v: &str| f.is_empty() || f == v;
    eq(&filter.user, &k.0) && eq(&filter.agent, &k.1) && eq(&filter.run, &k.2)
}

#[derive(Default)]
struct Tenant {
    /// Every document of each exact scope (for scoring a small scope directly).
    members: BTreeMap<ScopeKey, Vec<u32>>,
    /// The vectors of each exact scope.
    buckets: BTreeMap<ScopeKey, Bucket>,
    lexical: Lexical,
    /// The documents that carry an ACL (few, usually): the candidates a search adds outside its
    /// scopes for a viewer the ACL names.
    shared: BTreeSet<u32>,
    /// The documents with each normalised-text key (see `Doc::text_key`): where an exact
    /// duplicate is looked up, without walking its scope.
    texts: Sharded<[u8; 16], Vec<u32>>,
    /// The ACTIVE holders of each slot of each exact scope (one, but for a moment inside the
    /// apply that supersedes them): where a new holder finds the cubes it supersedes.
    slots: HashMap<(ScopeKey, Box<str>), Vec<u32>>,
}

impl Doc {
    /// Takes what a new version may change without the document being filed anew: state,
    /// types, tags (sorted), attributes, times, pin and the ACL itself (whether there is one
    /// decides the `shared` set, so that is part of the filing).
    fn take_version(&mut self, cube: &MemCube, tags: Vec<String>) {
        self.version = cube.version;
        self.state = cube.state;
        self.memory_type = cube.memory_type;
        self.source = cube.source;
        self.tags = tags;
        self.attributes = cube.attributes.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        self.created = cube.created_at_ms;
        self.updated = cube.updated_at_ms;
        self.expires = cube.expires_at_ms;
        self.pinned = cube.pinned;
        self.acl = cube.acl.clone().map(Box::new);
    }

    fn holds_slot(&self) -> bool {
        self.slot.is_some() && self.state == memmesh_proto::CubeState::Active as i32
    }
}

impl Tenant {
    /// Files document `slot` as an ACTIVE holder of slot `name` in its scope.
    fn hold_slot(&mut self, scope: &Scope, name: &str, slot: u32) {
        self.slots.entry((scope_key(scope), name.into())).or_default().push(slot);
    }

    /// Unfiles it; a slot name without holders is forgotten.
    fn release_slot(&mut self, scope: &Scope, name: &str, slot: u32) {
        let key = (scope_key(scope), name.into());
        if let Some(holders) = self.slots.get_mut(&key) {
            holders.retain(|&s| s != slot);
            if holders.is_empty() {
                self.slots.remove(&key);
            }
        }
    }
}

#[derive(Default)]
struct Inner {
    docs: Vec<Option<Doc>>,
    free: Vec<u32>,
    by_id: Sharded<Ulid, u32>,
    tenants: HashMap<String, Tenant>,
}

/// The index of one replica. `model` is the embedding model whose vectors the dense index holds
/// (vectors of any other model are not comparable and are left out); `None` = no dense index.
pub struct SearchIndex {
    model: Option<(String, usize)>,
    /// From how many vectors a dense search ranks by int8 first (0: never; see `query`).
    quantized_min: usize,
    /// From how many vectors the int8 pass is preceded by a binary one (0: never).
    binary_min: usize,
    /// How many threads one big search may use (1: the calling thread alone; see `query`).
    query_threads: usize,
    inner: RwLock<Inner>,
    adapters: adapters::Adapters,
    /// Keyed per process, so no text can be written to collide with another's hash.
    hasher: RandomState,
}

impl Facets for Doc {
    fn memory_type(&self) -> i32 {
        self.memory_type
    }
    fn state(&self) -> Option<i32> {
        Some(self.state)
    }
    fn source(&self) -> Option<i32> {
        Some(self.source)
    }
    fn tags(&self) -> Option<&[String]> {
        Some(&self.tags)
    }
    fn created_at_ms(&self) -> Option<i64> {
        Some(self.created)
    }
    fn updated_at_ms(&self) -> Option<i64> {
        Some(self.updated)
    }
    fn attribute(&self, key: &str) -> Option<&str> {
        self.attributes.get(key).map(String::as_str)
    }
    fn expires_at_ms(&self) -> i64 {
        self.expires
    }
    fn pinned(&self) -> bool {
        self.pinned
    }
}

impl Doc {
    /// Whether the document is ACTIVE at `now` (stored so, and not past its expiry).
    fn active_at(&self, now: i64) -> bool {
        crate::model::lifecycle::effective_state(self.state, self.expires, self.pinned, now) == memmesh_proto::CubeState::Active as i32
    }
}

impl Query {
    /// The tenant searched.
    pub fn tenant(&self) -> Option<&str> {
        self.scopes.first().or_else(|| self.viewer.as_ref().and_then(|v| v.requested.first())).map(|s| s.tenant.as_str())
    }

    fn in_scopes(&self, d: &Doc) -> bool {
        self.scopes.iter().any(|s| scope_matches(s, &d.scope))
    }

    /// Whether `d` is a result candidate: it passes the filter and the caller may read it —
    /// by lying in the scopes (unless a restricted ACL leaves the caller out) or by an ACL that
    /// names the caller, inside the requested scopes.
    fn admits(&self, d: &Doc) -> bool {
        self.filter.accepts(d) && self.visible(d, || self.in_scopes(d))
    }

    /// [`Self::admits`] for a document known to lie in the scopes (the scans walk the scopes'
    /// own buckets and member lists, so they need not test that again per document).
    fn admits_in_scopes(&self, d: &Doc) -> bool {
        self.filter.accepts(d) && self.visible(d, || true)
    }

    /// The access rule ([`Caller::may_cube_with`]) for `d`, `in_scopes` telling whether it lies
    /// in the scopes the viewer's scope rule reaches; an ACL never reaches past the requested
    /// scopes.
    fn visible(&self, d: &Doc, in_scopes: impl FnOnce() -> bool) -> bool {
        let (Some(v), Some(acl)) = (&self.viewer, d.acl.as_deref()) else {
            return in_scopes();
        };
        v.caller.may_cube_with(&d.scope.tenant, Some(acl), Need::Read, in_scopes) && v.requested.iter().any(|s| scope_matches(s, &d.scope))
    }
}

impl Default for SearchIndex {
    /// An index without a dense part.
    fn default() -> Self {
        Self::new(None)
    }
}

impl SearchIndex {
    pub fn new(model: Option<(String, usize)>) -> Self {
        Self {
            model,
            quantized_min: QUANTIZED_MIN_VECTORS,
            binary_min: BINARY_MIN_VECTORS,
            query_threads: QUERY_THREADS,
            inner: RwLock::new(Inner::default()),
            adapters: Default::default(),
            hasher: RandomState::new(),
        }
    }

    /// Sets `search.quantized_min_vectors` (0 turns the int8 pass off).
    pub fn with_quantized_min(mut self, vectors: usize) -> Self {
        self.quantized_min = vectors;
        self
    }

    /// Sets `search.binary_min_vectors` (0 turns the binary pass off).
    pub fn with_binary_min(mut self, vectors: usize) -> Self {
        self.binary_min = vectors;
        self
    }

    /// Sets `search.query_threads` (at least 1).
    pub fn with_query_threads(mut self, threads: usize) -> Self {
        self.query_threads = threads.max(1);
        self
    }

    /// The model id and dimensions of the dense index, if there is one.
    pub fn model(&self) -> Option<(&str, usize)> {
        self.model.as_ref().map(|(m, d)| (m.as_str(), *d))
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Inner> {
        self.inner.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Inner> {
        self.inner.write().unwrap_or_else(|p| p.into_inner())
    }

    pub fn len(&self) -> usize {
        self.read().by_id.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Forgets everything (before a rebuild).
    pub fn clear(&self) {
        *self.write() = Inner::default();
        self.adapters.clear();
    }

    /// The adapters an AUTO search of `scopes` may use at `now`, best first (see
    /// `adapters::Adapters::candidates`).
    pub fn adapter_candidates(&self, scopes: &[Scope], now: i64) -> Vec<(Ulid, u64)> {
        self.adapters.candidates(scopes, now)
    }

    /// Indexes the current version of a cube (replacing what was indexed for it).
    pub fn upsert(&self, cube: &MemCube) {
        let Ok(id) = cube.id.parse::<Ulid>() else {
            return;
        };
        self.adapters.upsert(id, cube);
        let scope = cube.scope.clone().unwrap_or_default();
        let text = cube.content.as_ref().map_or("", |c| c.text.as_str());
        let restricted = cube.acl.as_ref().is_some_and(|a| a.restricted);
        let text_hash = self.hasher.hash_one((cube.kind, restricted, text, &cube.context));
        let vector = cube.embedding.as_ref().filter(|e| self.model.as_ref().is_some_and(|(m, d)| e.model == *m && e.vector.len() == *d));
        let mut tags = cube.tags.clone();
        tags.sort();
        let mut g = self.write();
        // A new version that leaves everything the index's structures are keyed on as it was
        // (scope, text, vector, slot, whether it is shared) — an expiry, a delete, an archive,
        // a pin, new tags — is updated where it is: removing and adding it again touched every
        // posting of its terms and cost most of an expiry's serial apply (bench-lifecycle).
        if let Some(doc) = g.in_place(id, &scope, text_hash, vector.map(|e| e.vector.as_slice()), cube) {
            let held = doc.holds_slot();
            doc.take_version(cube, tags);
            let (holds, name) = (doc.holds_slot(), doc.slot.clone());
            if let (Some(name), true, Some(&slot)) = (name, held != holds, g.by_id.get(&id)) {
                let tenant = g.tenants.entry(scope.tenant.clone()).or_default();
                if holds {
                    tenant.hold_slot(&scope, &name, slot);
                } else {
                    tenant.release_slot(&scope, &name, slot);
                }
            }
            return;
        }
        // A new version with the text unchanged keeps its terms and text key: tokenizing,
        // stemming and normalising the text again is the rest of a re-index's cost.
        let same_text = g.by_id.get(&id).and_then(|&s| g.docs[s as usize].as_ref()).is_some_and(|d| d.text_hash == text_hash);
        let (terms, len, key) = match g.remove(id, self.dims()).filter(|_| same_text) {
            Some(old) => (old.terms, old.len, old.text_key),
            None => {
                // Computed outside the lock; apply is the index's only writer, so nothing
                // else changes the cube's entry meanwhile.
                drop(g);
                // The search context is found lexically together with the text.
                let (terms, len) = if cube.context.is_empty() { term_counts(text) } else { term_counts(&format!("{text}\n{}", cube.context)) };
                let key = text_key(cube).filter(|_| !restricted);
                g = self.write();
                (terms, len, key)
            }
        };
        let inner = &mut *g;
        let slot = inner.free.pop().unwrap_or(inner.docs.len() as u32);
        let tenant = inner.tenants.entry(scope.tenant.clone()).or_default();
        tenant.lexical.add(slot, &terms, len);
        let members = tenant.members.entry(scope_key(&scope)).or_default();
        members.push(slot);
        let member = (members.len() - 1) as u32;
        let dense = vector.map(|e| tenant.buckets.entry(scope_key(&scope)).or_default().push(slot, &e.vector));
        let mut doc = Doc {
            id,
            scope,
            kind: cube.kind,
            text_key: key,
            slot: (!cube.slot.is_empty()).then(|| cube.slot.as_str().into()),
            terms,
            len,
            text_hash,
            member,
            dense,
            ..Default::default()
        };
        doc.take_version(cube, tags);
        if doc.acl.is_some() {
            tenant.shared.insert(slot);
        }
        if let Some(key) = doc.text_key {
            tenant.texts.or_default(key).push(slot);
        }
        if let (Some(name), true) = (&doc.slot, doc.holds_slot()) {
            tenant.hold_slot(&doc.scope, name, slot);
        }
        if slot as usize == inner.docs.len() {
            inner.docs.push(Some(doc));
        } else {
            inner.docs[slot as usize] = Some(doc);
        }
        inner.by_id.insert(id, slot);
    }

    /// Whether any cube inside `requested` (scopes of one tenant) has an ACL naming `caller`
    /// as a reader — so that List, Search and Subscribe of those scopes have something to show
    /// a caller the scope rule does not admit.
    pub fn shares_with(&self, caller: &Caller, requested: &[Scope]) -> bool {
        let g = self.read();
        let Some(tenant) = requested.first().and_then(|s| g.tenants.get(&s.tenant)) else {
            return false;
        };
        tenant.shared.iter().filter_map(|&slot| g.docs[slot as usize].as_ref()).any(|d| {
            requested.iter().any(|s| scope_matches(s, &d.scope)) && d.acl.as_ref().is_some_and(|a| caller.listed(&d.scope.tenant, a, Need::Read))
        })
    }

    /// Forgets a cube (purged).
    pub fn remove(&self, id: Ulid) {
        let dims = self.dims();
        self.adapters.remove(id);
        self.write().remove(id, dims);
    }

    fn dims(&self) -> usize {
        self.model.as_ref().map_or(0, |(_, d)| *d)
    }
}

impl Inner {
    /// The indexed document of `id`, if a new version `cube` (with this scope, text hash and
    /// vector) can replace it in place: every structure it is filed under stays as it is.
    fn in_place(&mut self, id: Ulid, scope: &Scope, text_hash: u64, vector: Option<&[f32]>, cube: &MemCube) -> Option<&mut Doc> {
        let slot = *self.by_id.get(&id)?;
        let doc = self.docs[slot as usize].as_ref()?;
        let same = doc.text_hash == text_hash
            && doc.scope == *scope
            && doc.slot.as_deref().unwrap_or("") == cube.slot
            && doc.acl.is_some() == cube.acl.is_some()
            && match (doc.dense, vector) {
                (None, None) => true,
                (Some(pos), Some(v)) => {
                    let bucket = self.tenants.get(&scope.tenant).and_then(|t| t.buckets.get(&scope_key(scope)));
                    bucket.is_some_and(|b| b.vector(pos, v.len()) == v)
                }
                _ => false,
            };
        if !same {
            return None;
        }
        self.docs[slot as usize].as_mut()
    }

    /// Removes a cube's document and returns it.
    fn remove(&mut self, id: Ulid, dims: usize) -> Option<Doc> {
        let slot = self.by_id.remove(&id)?;
        let doc = self.docs[slot as usize].take()?;
        self.free.push(slot);
        let Some(tenant) = self.tenants.get_mut(&doc.scope.tenant) else {
            return Some(doc);
        };
        tenant.shared.remove(&slot);
        if let Some(key) = doc.text_key {
            if let Some(slots) = tenant.texts.get_mut(&key) {
                slots.retain(|&s| s != slot);
                if slots.is_empty() {
                    tenant.texts.remove(&key);
                }
            }
        }
        tenant.lexical.remove(slot, &doc.terms, doc.len);
        let key = scope_key(&doc.scope);
        if let Some(name) = &doc.slot {
            tenant.release_slot(&doc.scope, name, slot);
        }
        if let Some(members) = tenant.members.get_mut(&key) {
            let pos = doc.member as usize;
            members.swap_remove(pos);
            if let Some(&moved) = members.get(pos) {
                if let Some(Some(m)) = self.docs.get_mut(moved as usize) {
                    m.member = pos as u32;
                }
            }
            if members.is_empty() {
                tenant.members.remove(&key);
            }
        }
        if let Some(pos) = doc.dense {
            if let Some(bucket) = tenant.buckets.get_mut(&key) {
                if let Some(moved) = bucket.swap_remove(pos, dims) {
                    if let Some(Some(m)) = self.docs.get_mut(moved as usize) {
                        m.dense = Some(pos);
                    }
                }
                if bucket.is_empty() {
                    tenant.buckets.remove(&key);
                }
            }
        }
        if tenant.members.is_empty() {
            self.tenants.remove(&doc.scope.tenant);
        }
        Some(doc)
    }
}
