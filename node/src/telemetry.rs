//! What a node tells its operators: logs (text or JSON, to stderr) and Prometheus metrics.
//!
//! Metrics are recorded where they happen with the `metrics` macros (the write pipeline, the
//! embedding workers, the feed, the error mapping, the audit of refusals) and exported by
//! `metrics-exporter-prometheus` on `metrics.listen`. What only a look at the node's state
//! shows — Raft progress, index and database sizes — is read by [`spawn_gauges`] once a second.
//! Every series is described in [`describe`]; the README's "Metrics" section lists them.
//!
//! [`CallLayer`], a tower layer in front of every gRPC service, is the one place that sees each
//! call's method and final status: it records the request-latency histogram, and runs the call
//! inside a `grpc` span carrying the method, a call id (the client's `x-request-id` header, or
//! one made here) and — once the engine knows them — the write's `request_id` and tenant, so
//! every log line of a call (JSON logs include the span) can be traced back to it. At `debug`
//! for this module each call logs one line when it ends.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use metrics::{describe_counter, describe_gauge, describe_histogram, Unit};
use metrics_exporter_prometheus::{BuildError, Matcher, PrometheusBuilder};

use crate::config::{LogConfig, LogFormat};
use crate::engine::Core;

/// Starts logging to stderr as configured; `RUST_LOG` overrides the configured filter.
pub fn init_logging(cfg: &LogConfig) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| cfg.filter.as_str().into());
    let fmt = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    match cfg.format {
        // One JSON object per line, with the fields of the enclosing spans (request ids).
        LogFormat::Json => fmt.json().with_current_span(true).with_span_list(false).init(),
        LogFormat::Text => fmt.init(),
    }
}

/// Latency buckets in seconds: from a cached read (~100 µs) to a write stuck behind an election.
const LATENCY_BUCKETS: &[f64] = &[0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];
/// Count buckets (batch sizes, revisions behind).
const COUNT_BUCKETS: &[f64] = &[1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0, 1024.0, 4096.0, 16384.0];

/// Serves the Prometheus endpoint on `listen` (must be called inside the runtime).
pub fn install_metrics(listen: SocketAddr) -> Result<(), BuildError> {
    PrometheusBuilder::new()
        .with_http_listener(listen)
        .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), LATENCY_BUCKETS)?
        .set_buckets_for_metric(Matcher::Suffix("_requests".into()), COUNT_BUCKETS)?
        .set_buckets_for_metric(Matcher::Suffix("_texts".into()), COUNT_BUCKETS)?
        .set_buckets_for_metric(Matcher::Suffix("_revisions".into()), COUNT_BUCKETS)?
        .install()?;
    describe();
    Ok(())
}

fn describe() {
    describe_histogram!(
        "memmesh_grpc_request_duration_seconds",
        Unit::Seconds,
        "gRPC calls by method and status code: time to the response headers (for streams, to the stream's start)"
    );
    describe_histogram!("memmesh_group_commit_batch_requests", Unit::Count, "client writes packed into one Raft entry by the group commit");
    describe_gauge!("memmesh_embed_queue_jobs", Unit::Count, "embedding jobs waiting for a worker, as last seen by a sender");
    describe_histogram!("memmesh_embed_inference_seconds", Unit::Seconds, "time of one inference batch on an embedding worker");
    describe_histogram!("memmesh_embed_batch_texts", Unit::Count, "texts per inference batch");
    describe_gauge!("memmesh_feed_subscribers", Unit::Count, "open MemStore subscriptions on this node");
    describe_histogram!(
        "memmesh_feed_subscriber_lag_revisions",
        Unit::Count,
        "revisions a subscriber is behind the applied revision when it looks for more"
    );
    describe_counter!("memmesh_quota_rejections_total", Unit::Count, "requests refused with RESOURCE_EXHAUSTED by a tenant quota");
    describe_counter!("memmesh_audit_denials_total", Unit::Count, "refused requests (unauthenticated, permission denied) sent to the audit log");
    describe_gauge!("memmesh_raft_term", Unit::Count, "this node's current Raft term");
    describe_gauge!("memmesh_raft_is_leader", Unit::Count, "1 on the leader, 0 elsewhere");
    describe_gauge!("memmesh_raft_has_leader", Unit::Count, "1 when this node knows a leader");
    describe_gauge!("memmesh_raft_last_log_index", Unit::Count, "index of the last entry in this node's log");
    describe_gauge!("memmesh_raft_applied_index", Unit::Count, "index of the last entry applied here (= the applied revision)");
    describe_gauge!("memmesh_raft_commit_index", Unit::Count, "the highest index this node knows to be committed");
    describe_gauge!("memmesh_raft_member_matched_index", Unit::Count, "on the leader: the last index each member has, by member id");
    describe_gauge!("memmesh_raft_member_lag_entries", Unit::Count, "on the leader: entries each member is behind the leader's log, by member id");
    describe_gauge!("memmesh_index_documents", Unit::Count, "cubes in this node's search index");
    describe_gauge!("memmesh_state_db_bytes", Unit::Bytes, "the state database's SST files and memtables");
    describe_gauge!("memmesh_data_dir_free_bytes", Unit::Bytes, "free space on the data directory's filesystem");
    describe_counter!("memmesh_disk_full_rejections_total", Unit::Count, "writes refused because free space fell below node.min_free_bytes");
}

/// Reads Raft progress and sizes into gauges every `period`, for as long as the node lives.
pub fn spawn_gauges(core: &Arc<Core>, period: Duration) {
    let weak = Arc::downgrade(core);
    tokio::spawn(async move {
        let mut every = tokio::time::interval(period);
        loop {
            every.tick().await;
            let Some(core) = weak.upgrade() else { return };
            raft_gauges(&core);
            if let Ok(c) = core.raft.with_raft_state(|s| s.committed.map_or(0, |l| l.index)).await {
                metrics::gauge!("memmesh_raft_commit_index").set(c as f64);
            }
            metrics::gauge!("memmesh_index_documents").set(core.index.len() as f64);
            let reader = core.reader.clone();
            if let Ok(bytes) = tokio::task::spawn_blocking(move || reader.state_bytes()).await {
                metrics::gauge!("memmesh_state_db_bytes").set(bytes as f64);
            }
        }
    });
}

fn raft_gauges(core: &Core) {
    let m = core.raft.metrics().borrow().clone();
    let last = m.last_log_index.unwrap_or(0);
    metrics::gauge!("memmesh_raft_term").set(m.current_term as f64);
    metrics::gauge!("memmesh_raft_is_leader").set(f64::from(u8::from(m.current_leader == Some(m.id))));
    metrics::gauge!("memmesh_raft_has_leader").set(f64::from(u8::from(m.current_leader.is_some())));
    metrics::gauge!("memmesh_raft_last_log_index").set(last as f64);
    metrics::gauge!("memmesh_raft_applied_index").set(m.last_applied.map_or(0, |l| l.index) as f64);
    let Some(replication) = &m.replication else { return };
    for (id, matched) in replication {
        let matched = if *id == m.id { last } else { matched.map_or(0, |l| l.index) };
        let member = id.to_string();
        metrics::gauge!("memmesh_raft_member_matched_index", "member" => member.clone()).set(matched as f64);
        metrics::gauge!("memmesh_raft_member_lag_entries", "member" => member).set(last.saturating_sub(matched) as f64);
    }
}

/// A tower layer recording `memmesh_grpc_request_duration_seconds{method, code}` and running
/// each client call in a `grpc` span (see the module docs).
#[derive(Clone, Copy, Default)]
pub struct CallLayer;

impl<S> tower::Layer<S> for CallLayer {
    type Service = Call<S>;
    fn layer(&self, inner: S) -> Self::Service {
        Call { inner }
    }
}

#[derive(Clone)]
pub struct Call<S> {
    inner: S,
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

impl<S, B, RB> tower::Service<http::Request<B>> for Call<S>
where
    S: tower::Service<http::Request<B>, Response = http::Response<RB>>,
    S::Future: Send + 'static,
    S::Error: 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = BoxFuture<Result<S::Response, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: http::Request<B>) -> Self::Future {
        // Peer traffic (Raft replication) is left out: it would drown the client calls, and it
        // is the hottest path, so it pays for nothing here.
        let path = req.uri().path();
        if path.starts_with("/memmesh.v1.RaftPeer/") {
            return Box::pin(self.inner.call(req));
        }
        let method = path.to_string();
        let call = match req.headers().get("x-request-id").and_then(|v| v.to_str().ok()) {
            Some(id) if !id.is_empty() && id.len() <= 128 => id.to_string(),
            _ => ulid::Ulid::new().to_string(),
        };
        let span = tracing::info_span!("grpc", method = %method, call = %call, request_id = tracing::field::Empty, tenant = tracing::field::Empty);
        let started = Instant::now();
        let fut = {
            let _entered = span.enter();
            self.inner.call(req)
        };
        Box::pin(tracing::Instrument::instrument(
            async move {
                let res = fut.await;
                // An error status comes as a trailers-only response: `grpc-status` in the headers. A
                // success puts it in the trailers, after the body: no header means OK (for streams,
                // OK at their start).
                let code = match &res {
                    Ok(r) => {
                        let n = r.headers().get("grpc-status").and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<i32>().ok()).unwrap_or(0);
                        format!("{:?}", tonic::Code::from(n))
                    }
                    Err(_) => "Transport".to_string(),
                };
                let secs = started.elapsed().as_secs_f64();
                tracing::debug!(code = %code, ms = secs * 1e3, "call ended");
                metrics::histogram!("memmesh_grpc_request_duration_seconds", "method" => method, "code" => code).record(secs);
                res
            },
            span,
        ))
    }
}
