//! `memmesh-node`: runs one MemMesh node.
//!
//! With no arguments: a single-node cluster in `./memmesh-data`, serving on `127.0.0.1:7070`.

use std::path::PathBuf;

use anyhow::Context;
use clap::Parser;
use memmesh_node::config::{Config, LogFormat, Overrides};
use memmesh_node::node::Node;
use memmesh_node::telemetry;

// The write path allocates many small buffers per request (decode, log entry, replication,
// apply); mimalloc handles that pattern markedly better than glibc malloc (profiled: ~10 % of
// CPU in malloc/free under load).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser, Debug)]
#[command(name = "memmesh-node", version, about = "Run a MemMesh node (RocksDB + Raft + gRPC)")]
struct Args {
    /// Configuration file, TOML (or JSON if named *.json), layered over the defaults; env
    /// MEMMESH__SECTION__KEY and these flags override it.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Data directory [default: ./memmesh-data].
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// gRPC listen address [default: 127.0.0.1:7070]; port 0 picks a free port.
    #[arg(long)]
    listen: Option<std::net::SocketAddr>,
    /// Address to advertise to clients and peers [default: the bound listen address].
    #[arg(long)]
    advertise: Option<String>,
    /// On first start, join the cluster that HOST:PORT belongs to (as a learner that becomes a
    /// voter once caught up) instead of starting a new single-node cluster.
    #[arg(long, value_name = "HOST:PORT")]
    join: Option<String>,
    /// With --join: stay a learner (read replica) instead of becoming a voter.
    #[arg(long)]
    learner: bool,
    /// Serve Prometheus metrics on HOST:PORT (`metrics.listen`; off unless set).
    #[arg(long, value_name = "HOST:PORT")]
    metrics_listen: Option<std::net::SocketAddr>,
    /// Log format on stderr (`log.format`) [default: text].
    #[arg(long, value_enum)]
    log_format: Option<LogFormat>,
    /// Start a new single-node cluster from a backup (`memmesh backup`) in an empty data
    /// directory; other nodes then join it. The node gets a new id.
    #[arg(long, value_name = "FILE")]
    restore: Option<PathBuf>,
    /// Print the effective configuration (all layers applied; secrets redacted) as JSON and
    /// exit: checks a configuration file without starting the node.
    #[arg(long)]
    print_config: bool,
}

async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).expect("install SIGTERM handler");
    tokio::select! {
        _ = term.recv() => tracing::info!("SIGTERM received"),
        _ = tokio::signal::ctrl_c() => tracing::info!("SIGINT received"),
    }
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let overrides = Overrides {
        data_dir: args.data_dir,
        listen: args.listen,
        advertise: args.advertise,
        join: args.join,
        learner: args.learner,
        metrics_listen: args.metrics_listen,
        log_format: args.log_format,
    };
    let cfg = Config::load(args.config.as_deref(), &overrides)?;
    if args.print_config {
        let mut shown = cfg.clone();
        for secret in [&mut shown.auth.bootstrap_token, &mut shown.auth.cluster_secret].into_iter().flatten() {
            *secret = "<redacted>".into();
        }
        println!("{}", serde_json::to_string_pretty(&shown)?);
        return Ok(());
    }
    telemetry::init_logging(&cfg.log);
    // The runtime is built by hand because its size is configuration (`node.worker_threads`).
    let mut rt = tokio::runtime::Builder::new_multi_thread();
    rt.enable_all();
    if cfg.node.worker_threads > 0 {
        rt.worker_threads(cfg.node.worker_threads);
    }
    rt.build().context("starting the async runtime")?.block_on(run(cfg, args.restore))
}

async fn run(cfg: Config, restore: Option<PathBuf>) -> anyhow::Result<()> {
    if let Some(listen) = cfg.metrics.listen {
        telemetry::install_metrics(listen).with_context(|| format!("serving metrics on {listen}"))?;
    }
    let node = match &restore {
        Some(file) => Node::start_restored(&cfg, file).await.with_context(|| format!("restoring {}", file.display()))?,
        None => Node::start(&cfg).await.context("starting node")?,
    };
    if cfg.metrics.listen.is_some() {
        telemetry::spawn_gauges(&node.core, std::time::Duration::from_secs(1));
    }
    tracing::info!(node_id = node.core.id, addr = %node.local_addr, data_dir = %cfg.node.data_dir.display(), "serving");
    // One line on stdout when ready: scripts and tests wait for it and read the bound address.
    println!("memmesh-node {} listening on {}", node.core.id, node.local_addr);
    node.serve(shutdown_signal()).await.context("serving")?;
    tracing::info!("stopped");
    Ok(())
}
