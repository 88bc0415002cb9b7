//! Backup and restore throughput of one node, against copying the same bytes on the same disk
//! (read, write, fsync) measured in the same run.
//!
//! ```text
//! bench-backup [--smoke] [--cubes N] [--bytes B]
//! ```
//!
//! 1. Loads N cubes of B bytes of text (default 100,000 × 1 KiB; embedding off: vectors are
//!    not what is measured) into a single-node cluster.
//! 2. `memmesh backup --out FILE` (the CLI: the read barrier, the snapshot at an entry
//!    boundary, the stream, the client's checks, fsync): MB/s and cubes/s.
//! 3. `memmesh-node --restore FILE` until the node is serving (install, index rebuild, start):
//!    MB/s and cubes/s; then every 100th cube is read back from the restored node.
//! 4. Baseline: `cp` of the backup file + fsync on the same disk. Ratios: backup and restore
//!    time over the copy's.

use std::process::Command;
use std::time::Instant;

use clap::Parser;
use memmesh_tests::proto::*;
use memmesh_tests::{bin, scope, text_cube, NodeProc};

#[derive(Parser)]
struct Args {
    /// A short run for CI: 2,000 cubes.
    #[arg(long)]
    smoke: bool,
    /// Cubes to load [default: 100000].
    #[arg(long)]
    cubes: Option<usize>,
    /// Text bytes per cube [default: 1024].
    #[arg(long, default_value_t = 1024)]
    bytes: usize,
}

fn mb_s(bytes: u64, secs: f64) -> f64 {
    bytes as f64 / 1e6 / secs
}

#[tokio::main]
async fn main() {
    let args = Args::parse();
    let cubes = args.cubes.unwrap_or(if args.smoke { 2000 } else { 100_000 });
    let dir = tempfile::tempdir().unwrap();
    let node = NodeProc::start(&dir.path().join("a"));
    let mut c = node.client().await;
    let mut ids = Vec::new();
    let started = Instant::now();
    for (b, chunk) in (0..cubes).collect::<Vec<_>>().chunks(500).enumerate() {
        let batch: Vec<CubeInput> = chunk
            .iter()
            .map(|i| {
                let mut text = format!("cube {i} ");
                text.push_str(&"x".repeat(args.bytes.saturating_sub(text.len())));
                text_cube(scope("bench", &format!("u{}", i % 100)), &text)
            })
            .collect();
        let r = c.memory.put_batch(PutBatchRequest { cubes: batch, request_id: format!("load-{b}"), ..Default::default() }).await.unwrap();
        ids.extend(r.into_inner().cubes.into_iter().map(|c| c.id));
    }
    println!("bench-backup: loaded {cubes} cubes of {} B in {:.1} s", args.bytes, started.elapsed().as_secs_f64());

    let file = dir.path().join("bench.backup");
    let t = Instant::now();
    let out = Command::new(bin("memmesh")).args(["--addr", &node.addr, "--json", "backup", "--out"]).arg(&file).output().unwrap();
    let backup_s = t.elapsed().as_secs_f64();
    assert!(out.status.success(), "backup failed: {}", String::from_utf8_lossy(&out.stdout));
    let size = std::fs::metadata(&file).unwrap().len();
    drop(node);

    let t = Instant::now();
    let restored = NodeProc::start_args(&dir.path().join("b"), "127.0.0.1:0", &["--restore", file.to_str().unwrap()], &[]);
    let restore_s = t.elapsed().as_secs_f64();
    let mut c = restored.client().await;
    for id in ids.iter().step_by(100) {
        c.memory.get(GetRequest { id: id.clone(), ..Default::default() }).await.unwrap_or_else(|s| panic!("{id} not restored: {s}"));
    }

    // Baseline: the same bytes copied on the same disk and fsynced.
    let copy = dir.path().join("copy.backup");
    let t = Instant::now();
    std::fs::copy(&file, &copy).unwrap();
    std::fs::File::open(&copy).unwrap().sync_all().unwrap();
    let copy_s = t.elapsed().as_secs_f64();

    println!("bench-backup: {cubes} cubes, backup file {:.1} MB{}", size as f64 / 1e6, if args.smoke { " (smoke run)" } else { "" });
    println!("  backup  (memmesh backup, end to end): {backup_s:.2} s  {:.1} MB/s  {:.0} cubes/s", mb_s(size, backup_s), cubes as f64 / backup_s);
    println!("  restore (--restore until serving):    {restore_s:.2} s  {:.1} MB/s  {:.0} cubes/s", mb_s(size, restore_s), cubes as f64 / restore_s);
    println!("  baseline: cp + fsync of the file:     {copy_s:.2} s  {:.1} MB/s", mb_s(size, copy_s));
    println!("  ratios: backup / copy time {:.1}x, restore / copy time {:.1}x", backup_s / copy_s, restore_s / copy_s);
}
