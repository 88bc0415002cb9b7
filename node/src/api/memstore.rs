//! `memmesh.v1.MemStore`: subscriptions to the change feed.
//!
//! Each subscription is one task that keeps `next`, the first revision it has not yet dealt
//! with, and alternates between two sources:
//! - **history** (`events` column family) while `next` ≤ the applied revision — at the start,
//!   after falling behind, or after the live broadcast skipped messages (lag);
//! - **live** broadcast messages, each covering a contiguous range of applied revisions.
//!
//! A message that starts after `next` means something was missed: the task goes back to the
//! history. So delivery is gap-free and ordered whichever source a revision comes from, and a
//! revision is never sent twice because `next` only moves forward. The gRPC stream is bounded:
//! a slow client blocks only its own task, never apply or other subscribers.

use std::sync::Arc;
use std::time::Duration;

use memmesh_proto::mem_store_server::MemStore;
use memmesh_proto::{subscribe_response, CubeState, Event, EventBatch, EventType, MemCube, Progress, Scope, SubscribeRequest, SubscribeResponse};
use tokio::sync::{broadcast, mpsc};
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status};
use ulid::Ulid;

use super::ApiError;
use crate::auth::Caller;
use crate::engine::Core;
use crate::engine::ReadAccess;
use crate::model::lifecycle::is_expired;
use crate::model::{self, now_ms, scope_matches, Filter, FilterSpec, ValidationError};
use crate::store::feed::{EventRecord, FeedMsg, RevisionEvents};

/// Messages buffered per subscriber before its task waits for the client.
const STREAM_BUFFER: usize = 64;
const MIN_PROGRESS_MS: u32 = 10;

pub struct MemStoreService {
    core: Arc<Core>,
}

impl MemStoreService {
    pub fn new(core: Arc<Core>) -> Self {
        Self { core }
    }
}

/// What a subscription selects: a scope, the cube filter (memory types only: an event record
/// carries no other facet, see [`FilterSpec`]) and event types.
#[derive(Clone, Debug)]
struct Selection {
    scope: Scope,
    cubes: Filter,
    event_types: Vec<i32>,
    prev_cube: bool,
}

impl Selection {
    fn from_request(req: &SubscribeRequest) -> Result<Selection, ValidationError> {
        let scope = model::check_scope("scope", req.scope.as_ref())?;
        for (i, t) in req.event_types.iter().enumerate() {
            EventType::try_from(*t).map_err(|_| ValidationError::new(format!("event_types[{i}]"), format!("unknown enum value {t}")))?;
        }
        let cubes = Filter::build(&FilterSpec { memory_types: &req.memory_types, ..Default::default() })?;
        if req.progress_notify_ms != 0 && req.progress_notify_ms < MIN_PROGRESS_MS {
            return Err(ValidationError::new("progress_notify_ms", format!("must be 0 (off) or at least {MIN_PROGRESS_MS}")));
        }
        Ok(Selection { scope, cubes, event_types: req.event_types.clone(), prev_cube: req.prev_cube })
    }

    fn matches(&self, e: &EventRecord) -> bool {
        scope_matches(&self.scope, &e.scope.0) && (self.event_types.is_empty() || self.event_types.contains(&e.kind)) && self.cubes.accepts(e)
    }
}

fn progress(revision: u64) -> SubscribeResponse {
    SubscribeResponse { kind: Some(subscribe_response::Kind::Progress(Progress { revision })) }
}

type Tx = mpsc::Sender<Result<SubscribeResponse, Status>>;

struct Subscription {
    core: Arc<Core>,
    /// Who subscribed: its access is checked again for every batch delivered, so revoking its
    /// token or the grant it relied on ends the stream, and each cube's ACL is honoured.
    who: Caller,
    filter: Selection,
    next: u64,
    tx: Tx,
}

impl Subscription {
    /// The cube as of an event. A cube purged since keeps only its identity.
    fn cube_at(&self, rec: &EventRecord, version: u64, revision: u64) -> Result<MemCube, ApiError> {
        let stored = match Ulid::from_string(&rec.id) {
            Ok(id) => self.core.reader.get_version(id, version)?,
            Err(_) => None,
        };
        Ok(stored.unwrap_or_else(|| MemCube {
            id: rec.id.clone(),
            scope: Some(rec.scope.0.clone()),
            memory_type: rec.memory_type,
            version,
            revision,
            state: if rec.kind == EventType::Purged as i32 { CubeState::Unspecified } else { CubeState::Deleted } as i32,
            ..Default::default()
        }))
    }

    /// The caller's access as of now (`None` = everything, an admin): an error ends the stream
    /// when its token or its access to the scope is gone.
    fn access(&self) -> Result<Option<ReadAccess>, ApiError> {
        let scope = &self.filter.scope;
        if self.who.is_admin_of(&scope.tenant) {
            return Ok(None);
        }
        if !self.who.token_id.is_empty() {
            let live = self.core.reader.token_by_id(&self.who.token_id)?.is_some_and(|t| t.live_at(crate::model::now_ms()));
            if !live {
                return Err(ApiError::Unauthenticated("the subscription's token was revoked or has expired".into()));
            }
        }
        match self.core.read_access(&self.who, scope)? {
            Some(a) => Ok(Some(a)),
            None => Err(ApiError::PermissionDenied(format!(
                "access to scope {}/{}/{}/{} has ended (a grant was revoked or expired)",
                scope.tenant, scope.user, scope.agent, scope.run
            ))),
        }
    }

    /// Sends the matching events of one revision as one batch. False when the client is gone.
    async fn deliver(&self, rev: &RevisionEvents) -> Result<bool, ApiError> {
        if !rev.events.iter().any(|e| self.filter.matches(e)) {
            return Ok(true);
        }
        // Checked once per batch, and only when something would be delivered.
        let access = self.access()?;
        let now = now_ms();
        let mut events = Vec::new();
        for rec in rev.events.iter().filter(|e| self.filter.matches(e)) {
            let cube = self.cube_at(rec, rec.version, rev.revision)?;
            if access.as_ref().is_some_and(|a| !a.sees(&cube)) {
                continue;
            }
            // A cube past its expiry is not shown again, not even by a catch-up replaying how it
            // was written; its EXPIRED event is (a mirror needs it to drop its copy).
            if rec.kind != EventType::Expired as i32 && is_expired(&cube, now) {
                continue;
            }
            let prev_cube = if self.filter.prev_cube && rec.prev_version > 0 { Some(self.cube_at(rec, rec.prev_version, 0)?) } else { None };
            events.push(Event { r#type: rec.kind, cube: Some(cube), prev_cube, request_id: rec.request_id.clone() });
        }
        if events.is_empty() {
            return Ok(true);
        }
        let batch = EventBatch { revision: rev.revision, events };
        Ok(self.tx.send(Ok(SubscribeResponse { kind: Some(subscribe_response::Kind::Events(batch)) })).await.is_ok())
    }

    /// Delivers from the stored history up to the applied revision.
    async fn catch_up(&mut self) -> Result<bool, ApiError> {
        let applied = self.core.reader.applied_revision();
        if self.next > applied {
            return Ok(true);
        }
        let revs = self.core.feed.history(self.next, applied)?;
        for r in &revs {
            if !self.deliver(r).await? {
                return Ok(false);
            }
        }
        self.next = applied + 1;
        Ok(true)
    }

    /// Delivers a live message; returns false when the client is gone.
    async fn live(&mut self, m: &FeedMsg) -> Result<bool, ApiError> {
        if m.to < self.next || m.from > self.next {
            // Already delivered, or a gap (the history catches it up on the next turn).
            return Ok(true);
        }
        for r in m.revisions.iter().filter(|r| r.revision >= self.next) {
            if !self.deliver(r).await? {
                return Ok(false);
            }
        }
        self.next = m.to + 1;
        Ok(true)
    }

    async fn run(mut self, mut feed: broadcast::Receiver<Arc<FeedMsg>>, every: Option<Duration>) -> Result<(), ApiError> {
        // A bookmark first: tells the client where the stream starts, so it can resume even if
        // nothing matches for a long time.
        if self.tx.send(Ok(progress(self.next - 1))).await.is_err() {
            return Ok(());
        }
        let mut tick = every.map(|d| tokio::time::interval_at(tokio::time::Instant::now() + d, d));
        loop {
            // How far behind the applied revision this subscriber is when it looks for more.
            let behind = self.core.reader.applied_revision().saturating_sub(self.next.saturating_sub(1));
            metrics::histogram!("memmesh_feed_subscriber_lag_revisions").record(behind as f64);
            if !self.catch_up().await? {
                return Ok(());
            }
            tokio::select! {
                msg = feed.recv() => match msg {
                    Ok(m) => if !self.live(&m).await? { return Ok(()) },
                    Err(broadcast::error::RecvError::Lagged(n)) => {
                        tracing::debug!(skipped = n, "subscriber lagged; catching up from history");
                    }
                    Err(broadcast::error::RecvError::Closed) => return Ok(()),
                },
                _ = async { match tick.as_mut() { Some(t) => { t.tick().await; } None => std::future::pending().await } } => {
                    if self.tx.send(Ok(progress(self.next - 1))).await.is_err() {
                        return Ok(());
                    }
                }
                _ = self.tx.closed() => return Ok(()),
            }
        }
    }
}

/// Counts an open subscription in `memmesh_feed_subscribers` for as long as it lives.
struct Subscribed;

impl Subscribed {
    fn count() -> Self {
        metrics::gauge!("memmesh_feed_subscribers").increment(1.0);
        Subscribed
    }
}

impl Drop for Subscribed {
    fn drop(&mut self) {
        metrics::gauge!("memmesh_feed_subscribers").decrement(1.0);
    }
}

#[tonic::async_trait]
impl MemStore for MemStoreService {
    type SubscribeStream = ReceiverStream<Result<SubscribeResponse, Status>>;

    async fn subscribe(&self, req: Request<SubscribeRequest>) -> Result<Response<Self::SubscribeStream>, Status> {
        let who = super::authn::caller(&req)?;
        let req = req.into_inner();
        let filter = Selection::from_request(&req)?;
        let scope = req.scope.clone().unwrap_or_default();
        self.core.authorize_read(&who, &scope)?;
        // Subscribe to the broadcast before reading the applied revision: every revision after
        // the one read is then certain to arrive on `feed`.
        let feed = self.core.feed.subscribe();
        let applied = self.core.reader.applied_revision();
        let next = if req.start_revision == 0 { applied + 1 } else { req.start_revision };
        let compacted = self.core.feed.compacted();
        if next <= compacted {
            return Err(ApiError::Compacted { requested: next, compacted }.into());
        }
        let (tx, rx) = mpsc::channel(STREAM_BUFFER);
        let every = (req.progress_notify_ms > 0).then(|| Duration::from_millis(req.progress_notify_ms as u64));
        let sub = Subscription { core: self.core.clone(), who, filter, next, tx: tx.clone() };
        tokio::spawn(async move {
            let _open = Subscribed::count();
            if let Err(e) = sub.run(feed, every).await {
                let _ = tx.send(Err(e.into())).await;
            }
        });
        Ok(Response::new(ReceiverStream::new(rx)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use memmesh_proto::MemoryType;

    #[test]
    fn filter_rejects_unknown_enums_and_tiny_progress_intervals() {
        let ok = SubscribeRequest { scope: Some(Scope { tenant: "t".into(), ..Default::default() }), ..Default::default() };
        assert!(Selection::from_request(&ok).is_ok());
        let mut bad = ok.clone();
        bad.event_types = vec![99];
        assert_eq!(Selection::from_request(&bad).unwrap_err().field, "event_types[0]");
        let mut bad = ok.clone();
        bad.memory_types = vec![MemoryType::Fact as i32, 77];
        assert_eq!(Selection::from_request(&bad).unwrap_err().field, "memory_types[1]");
        let mut bad = ok;
        bad.progress_notify_ms = 1;
        assert_eq!(Selection::from_request(&bad).unwrap_err().field, "progress_notify_ms");
    }
}
