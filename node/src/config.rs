//! Node configuration, layered: built-in defaults → TOML file (`--config`) → environment
//! (`MEMMESH__SECTION__KEY`, e.g. `MEMMESH__NODE__LISTEN=0.0.0.0:7070`) → command-line flags.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use figment::providers::{Env, Format, Json, Serialized, Toml};
use figment::Figment;
use serde::{Deserialize, Serialize};

/// Everything a node can be configured with. Each section is a TOML table of the same name.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    pub node: NodeConfig,
    pub limits: Limits,
    pub raft: RaftConfig,
    pub feed: FeedConfig,
    pub embedding: crate::embed::EmbeddingConfig,
    pub auth: crate::auth::AuthConfig,
    pub tls: crate::tls::TlsConfig,
    pub quotas: crate::quota::QuotaConfig,
    pub lifecycle: LifecycleConfig,
    pub search: SearchConfig,
    pub metrics: MetricsConfig,
    pub log: LogConfig,
}

/// The Prometheus endpoint.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct MetricsConfig {
    /// Where `GET /metrics` is served in the Prometheus text format (any path answers); off
    /// unless set. Unauthenticated and plain HTTP: bind it to an address only the scraper
    /// reaches. (See the README's "Metrics" for the series.)
    pub listen: Option<SocketAddr>,
}

/// How the node logs (to stderr).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct LogConfig {
    /// `text` (for people) or `json` (one object per line, for log collectors).
    pub format: LogFormat,
    /// A `tracing` filter, e.g. `info,openraft=warn`; the `RUST_LOG` environment variable
    /// overrides it.
    pub filter: String,
}

impl Default for LogConfig {
    fn default() -> Self {
        Self { format: LogFormat::Text, filter: "info,openraft=warn".into() }
    }
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

/// The search index's scans.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct SearchConfig {
    /// A dense search over at least this many vectors (a whole tenant, say) ranks them by their
    /// int8 form first and rescores the best candidates exactly: 4× fewer bytes read, the same
    /// top-k in bench-search's recall check. `0` turns it off: every search scans f32 vectors.
    pub quantized_min_vectors: usize,
    /// A dense search over at least this many vectors (and at least `quantized_min_vectors`)
    /// first ranks them by the Hamming distance of their sign bits to the query's (an eighth of
    /// the int8 bytes) and hands only the closest 32nd to the int8 pass. Approximate: the
    /// recall is bench-search's to check. `0` turns it off.
    pub binary_min_vectors: usize,
    /// Threads one big search may use: BM25 scores on a second thread beside the dense scan,
    /// and a big dense-only scan is split across them. The answer is the same as one thread's;
    /// only its latency changes. `1` keeps every search on one thread; more threads than the
    /// machine has cores gain nothing.
    pub query_threads: usize,
}

impl Default for SearchConfig {
    fn default() -> Self {
        // The index's own default (`index::QUANTIZED_MIN_VECTORS`, a layer this one may not
        // use; a test checks they agree).
        Self { quantized_min_vectors: 8_192, binary_min_vectors: 65_536, query_threads: 2 }
    }
}

/// The leader's lifecycle work (expiry sweep).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct LifecycleConfig {
    /// How often the leader looks for cubes past their expiry (the sweep's lag is about this
    /// plus one commit). Reads hide expired cubes at once whatever the lag.
    pub sweep_interval_ms: u64,
    /// Cubes per lifecycle log entry (the expiry sweep proposes as many entries as are due),
    /// and per tick of the other sweeps. An entry holds up the writes behind it while it
    /// applies: 1,000 expiries per entry cost concurrent writers a few points of throughput
    /// more than 250, and 30 ms of expiry lag (bench-lifecycle).
    pub sweep_batch: usize,
}

impl Default for LifecycleConfig {
    fn default() -> Self {
        Self { sweep_interval_ms: 250, sweep_batch: 250 }
    }
}

/// The change feed (MemStore).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct FeedConfig {
    /// How many recent revisions of change history this node keeps for subscribers to resume
    /// from; older history is compacted (a subscription starting there gets OUT_OF_RANGE).
    pub retention_revisions: u64,
    /// How many apply calls the in-memory live broadcast holds; a subscriber further behind is
    /// served from the stored history until it catches up.
    pub live_buffer: usize,
}

impl Default for FeedConfig {
    fn default() -> Self {
        Self { retention_revisions: 1_000_000, live_buffer: 1024 }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct NodeConfig {
    /// Where RocksDB, the node id and snapshots live. Created on first start.
    pub data_dir: PathBuf,
    /// Address the gRPC API listens on.
    pub listen: SocketAddr,
    /// Address other nodes and clients should use to reach this one (defaults to `listen`).
    pub advertise: Option<String>,
    /// On shutdown, how long open client connections may take to finish before they are cut.
    pub shutdown_grace_ms: u64,
    /// Address of any node of an existing cluster to join on first start (instead of starting
    /// a new single-node cluster).
    pub join: Option<String>,
    /// When joining, stay a learner (a read replica) instead of becoming a voter.
    pub learner: bool,
    /// Free space kept in reserve on the data directory's filesystem: below it the node refuses
    /// new writes (RESOURCE_EXHAUSTED) until space is freed; reads and purges go on. 0 = off.
    pub min_free_bytes: u64,
    /// Threads of the async runtime (gRPC, Raft, apply); 0 = one per CPU core. Lower it when
    /// several nodes (or other busy processes) share few cores: every idle worker is woken to
    /// look for work, and those wake-ups cost more than they bring once the cores are contended.
    pub worker_threads: usize,
}

impl Default for NodeConfig {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from("./memmesh-data"),
            listen: SocketAddr::from(([127, 0, 0, 1], 7070)),
            advertise: None,
            shutdown_grace_ms: 5000,
            join: None,
            learner: false,
            min_free_bytes: 256 << 20,
            worker_threads: 0,
        }
    }
}

pub use crate::model::Limits;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct RaftConfig {
    pub heartbeat_interval_ms: u64,
    pub election_timeout_min_ms: u64,
    pub election_timeout_max_ms: u64,
    /// Build a snapshot (and then purge the log) after this many entries since the last one.
    pub snapshot_after_entries: u64,
    /// Log entries kept behind the snapshot, so lagging followers can catch up from the log.
    pub keep_log_after_snapshot: u64,
    /// How long a write (or a read's leadership check) may wait for a quorum before the client
    /// gets UNAVAILABLE. A timed-out write may still commit later: retry with the same request id.
    pub request_timeout_ms: u64,
    /// How long AddMember waits for a new node to catch up before answering UNAVAILABLE (the
    /// node stays a learner and keeps catching up).
    pub catch_up_timeout_ms: u64,
}

impl Default for RaftConfig {
    fn default() -> Self {
        Self {
            heartbeat_interval_ms: 100,
            election_timeout_min_ms: 300,
            election_timeout_max_ms: 600,
            snapshot_after_entries: 20_000,
            keep_log_after_snapshot: 5_000,
            request_timeout_ms: 5_000,
            catch_up_timeout_ms: 60_000,
        }
    }
}

/// Values given on the command line; `None` leaves the lower layers' value in place.
#[derive(Debug, Default, Clone)]
pub struct Overrides {
    pub data_dir: Option<PathBuf>,
    pub listen: Option<SocketAddr>,
    pub advertise: Option<String>,
    pub join: Option<String>,
    pub learner: bool,
    pub metrics_listen: Option<SocketAddr>,
    pub log_format: Option<LogFormat>,
}

/// Why the configuration could not be assembled.
#[derive(Debug, thiserror::Error)]
#[error("invalid configuration: {0}")]
pub struct ConfigError(#[from] Box<figment::Error>);

impl Config {
    /// Assemble the configuration from all layers. `file` must exist if given: TOML, or JSON
    /// when its name ends in `.json` (what templating tools such as Helm write without losing
    /// integer types).
    pub fn load(file: Option<&Path>, overrides: &Overrides) -> Result<Config, ConfigError> {
        let mut fig = Figment::from(Serialized::defaults(Config::default()));
        match file {
            Some(f) if f.extension().is_some_and(|e| e == "json") => fig = fig.merge(Json::file_exact(f)),
            Some(f) => fig = fig.merge(Toml::file_exact(f)),
            None => {}
        }
        fig = fig.merge(Env::prefixed("MEMMESH__").split("__").lowercase(true));
        if let Some(d) = &overrides.data_dir {
            fig = fig.merge(Serialized::default("node.data_dir", d));
        }
        if let Some(l) = &overrides.listen {
            fig = fig.merge(Serialized::default("node.listen", l));
        }
        if let Some(a) = &overrides.advertise {
            fig = fig.merge(Serialized::default("node.advertise", a));
        }
        if let Some(j) = &overrides.join {
            fig = fig.merge(Serialized::default("node.join", j));
        }
        if overrides.learner {
            fig = fig.merge(Serialized::default("node.learner", true));
        }
        if let Some(m) = &overrides.metrics_listen {
            fig = fig.merge(Serialized::default("metrics.listen", m));
        }
        if let Some(f) = &overrides.log_format {
            fig = fig.merge(Serialized::default("log.format", f));
        }
        fig.extract().map_err(|e| ConfigError(Box::new(e)))
    }

    /// The address this node tells others to use.
    pub fn advertise_addr(&self) -> String {
        self.node.advertise.clone().unwrap_or_else(|| self.node.listen.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_search_defaults_are_the_index_own() {
        assert_eq!(SearchConfig::default().quantized_min_vectors, crate::index::QUANTIZED_MIN_VECTORS);
        assert_eq!(SearchConfig::default().query_threads, crate::index::QUERY_THREADS);
        assert_eq!(SearchConfig::default().binary_min_vectors, crate::index::BINARY_MIN_VECTORS);
    }

    // figment's `Jail` closures return its (large) error type.
    #[test]
    #[allow(clippy::result_large_err)]
    fn layers_apply_in_order_defaults_file_env_flags() {
        figment::Jail::expect_with(|jail| {
            jail.create_file("node.toml", "[node]\nlisten = \"127.0.0.1:9000\"\ndata_dir = \"/from-file\"\n[limits]\nmax_tags = 7\n")?;
            jail.set_env("MEMMESH__NODE__DATA_DIR", "/from-env");
            jail.set_env("MEMMESH__LIMITS__MAX_BATCH", "12");
            jail.set_env("MEMMESH__NODE__WORKER_THREADS", "1");
            jail.set_env("MEMMESH__LOG__FORMAT", "json");
            jail.set_env("MEMMESH__METRICS__LISTEN", "127.0.0.1:9464");
            let flags = Overrides {
                listen: Some("127.0.0.1:9100".parse().unwrap()),
                metrics_listen: Some("127.0.0.1:9465".parse().unwrap()),
                ..Default::default()
            };
            let cfg = Config::load(Some(Path::new("node.toml")), &flags).map_err(|e| e.to_string())?;
            assert_eq!(cfg.limits.max_tags, 7, "file overrides default");
            assert_eq!(cfg.limits.max_batch, 12, "env overrides default");
            assert_eq!(cfg.node.worker_threads, 1, "env sets a number");
            assert_eq!(cfg.log.format, LogFormat::Json, "env sets an enum");
            assert_eq!(cfg.metrics.listen, Some("127.0.0.1:9465".parse().unwrap()), "flag overrides env");
            assert_eq!(cfg.node.data_dir, PathBuf::from("/from-env"), "env overrides file");
            assert_eq!(cfg.node.listen.to_string(), "127.0.0.1:9100", "flag overrides file");
            assert_eq!(cfg.limits.max_content_bytes, 256 * 1024, "untouched default stays");
            Ok(())
        });
    }

    #[test]
    #[allow(clippy::result_large_err)]
    fn a_json_file_is_read_as_json() {
        figment::Jail::expect_with(|jail| {
            jail.create_file("node.json", r#"{"raft": {"request_timeout_ms": 7000}, "log": {"format": "json"}}"#)?;
            let cfg = Config::load(Some(Path::new("node.json")), &Overrides::default()).map_err(|e| e.to_string())?;
            assert_eq!(cfg.raft.request_timeout_ms, 7000);
            assert_eq!(cfg.log.format, LogFormat::Json);
            Ok(())
        });
    }

    #[test]
    #[allow(clippy::result_large_err)]
    fn the_example_configuration_file_loads() {
        // Inside a jail, like the tests that set MEMMESH__… variables: the jail's lock keeps
        // them from running meanwhile (one that did made this load its metrics address).
        figment::Jail::expect_with(|_jail| {
            let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/memmesh.toml");
            let cfg = Config::load(Some(&example), &Overrides::default()).map_err(|e| e.to_string())?;
            assert_eq!(cfg.log.format, LogFormat::Json);
            assert_eq!(cfg.metrics.listen, Some("0.0.0.0:9464".parse().unwrap()));
            assert_eq!(cfg.node.advertise.as_deref(), Some("memmesh-1.example.internal:7070"));
            Ok(())
        });
    }

    #[test]
    #[allow(clippy::result_large_err)]
    fn unknown_keys_are_rejected() {
        figment::Jail::expect_with(|jail| {
            jail.create_file("bad.toml", "[limits]\nmax_tagz = 7\n")?;
            let err = Config::load(Some(Path::new("bad.toml")), &Overrides::default()).unwrap_err();
            assert!(err.to_string().contains("max_tagz"), "{err}");
            Ok(())
        });
    }
}
