//! A data directory on a small filesystem that fills up: the node refuses writes with a clear
//! status before its log or database meets a full disk, keeps serving reads, lets purges through,
//! and takes writes again by itself once space is freed; nothing acknowledged is lost. A follower
//! whose disk fills refuses log entries, stays up and catches up by itself once space is freed.
//!
//! The filesystem is a 256 MiB tmpfs this test mounts (a new node preallocates ~80 MiB of log) (root; CI is root).

use std::process::Command;
use std::time::{Duration, Instant};

use memmesh_tests::proto::*;
use memmesh_tests::*;
use tonic::Code;

/// A tmpfs of `mib` MiB mounted on a new directory; unmounted when dropped.
struct Tmpfs(tempfile::TempDir);

impl Tmpfs {
    fn mount(mib: u64) -> Result<Tmpfs, String> {
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={mib}m"), "tmpfs"])
            .arg(dir.path())
            .output()
            .map_err(|e| e.to_string())?;
        if !out.status.success() {
            return Err(String::from_utf8_lossy(&out.stderr).trim().to_string());
        }
        Ok(Tmpfs(dir))
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(self.0.path()).output();
    }
}

/// Retries `f` until it returns true or `limit` passes.
async fn eventually<F, Fut>(limit: Duration, mut f: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = Instant::now();
    while start.elapsed() < limit {
        if f().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}

#[tokio::test]
async fn a_filling_disk_refuses_writes_keeps_reads_and_recovers_once_space_is_freed() {
    let fs = match Tmpfs::mount(256) {
        Ok(fs) => fs,
        Err(why) => panic!("cannot mount a tmpfs (the test command runs as root): {why}"),
    };
    let data = fs.0.path().join("node");
    // A 24 MiB reserve on a 256 MiB filesystem.
    let env = [("MEMMESH__NODE__MIN_FREE_BYTES", "25165824")];
    let mut node = NodeProc::start_with_env(&data, &env);
    let mut c = node.client().await;
    let mut acked = Vec::new();
    for i in 0..50 {
        acked.push(put_text(&mut c, scope("acme", "alice"), &format!("note {i}")).await);
    }

    // Fill the filesystem to 8 MiB free: below the reserve.
    let filler = fs.0.path().join("filler");
    let free = |p: &std::path::Path| {
        let out = Command::new("df").args(["-B1", "--output=avail"]).arg(p).output().unwrap();
        String::from_utf8_lossy(&out.stdout).lines().nth(1).unwrap().trim().parse::<u64>().unwrap()
    };
    let fill = free(fs.0.path()).saturating_sub(8 << 20);
    std::fs::write(&filler, vec![0u8; fill as usize]).unwrap();
    // The node reads its free space twice a second: writes until then are still taken.
    let taken_meanwhile = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let refused = eventually(Duration::from_secs(5), || {
        let (mut c, taken) = (c.clone(), taken_meanwhile.clone());
        async move {
            match try_put(&mut c, text_cube(scope("acme", "alice"), "too much"), "").await {
                Ok(_) => taken.fetch_add(1, std::sync::atomic::Ordering::Relaxed) == usize::MAX,
                Err(s) => s.code() == Code::ResourceExhausted,
            }
        }
    })
    .await;
    assert!(refused, "writes still accepted with the disk below the reserve");
    let s = try_put(&mut c, text_cube(scope("acme", "alice"), "too much"), "").await.unwrap_err();
    assert!(s.message().contains("node.min_free_bytes"), "the status names the setting: {}", s.message());
    let update =
        UpdateRequest { id: acked[0].id.clone(), content: Some(Content { text: "changed".into(), ..Default::default() }), ..Default::default() };
    assert_eq!(c.memory.update(update).await.unwrap_err().code(), Code::ResourceExhausted, "every kind of write is refused");

    // Reads go on; a purge (it frees space) passes.
    for cube in &acked {
        let got = c.memory.get(GetRequest { id: cube.id.clone(), ..Default::default() }).await.unwrap().into_inner().cube.unwrap();
        assert_eq!(got.revision, cube.revision);
    }
    let listed = list_all(&mut c, ListRequest { scope: Some(scope("acme", "alice")), ..Default::default() }).await;
    let meanwhile = taken_meanwhile.load(std::sync::atomic::Ordering::Relaxed);
    assert_eq!(listed.len(), 50 + meanwhile);
    c.memory
        .purge(PurgeRequest { target: Some(purge_request::Target::Id(acked[49].id.clone())), ..Default::default() })
        .await
        .expect("a purge passes: it frees space");

    // Space back: writes are taken again, without a restart.
    std::fs::remove_file(&filler).unwrap();
    let taken = eventually(Duration::from_secs(5), || {
        let mut c = c.clone();
        async move { try_put(&mut c, text_cube(scope("acme", "alice"), "after"), "after-1").await.is_ok() }
    })
    .await;
    assert!(taken, "writes not accepted again once space was freed");

    // Nothing acknowledged was lost, log and state intact across a crash.
    node.kill9();
    let node = NodeProc::start_with_env(&data, &env);
    let mut c = node.client().await;
    for cube in &acked[..49] {
        let got = c.memory.get(GetRequest { id: cube.id.clone(), ..Default::default() }).await.unwrap().into_inner().cube.unwrap();
        assert_eq!(text_of(&got), text_of(cube));
    }
    let gone = c.memory.get(GetRequest { id: acked[49].id.clone(), ..Default::default() }).await.unwrap_err();
    assert_eq!(gone.code(), Code::NotFound);
    let listed = list_all(&mut c, ListRequest { scope: Some(scope("acme", "alice")), ..Default::default() }).await;
    assert_eq!(listed.len(), 50 + meanwhile, "49 notes, those taken before the refusals began, and the write after the space came back");
}

/// A follower whose disk fills while the others have room: it refuses log entries (instead of
/// meeting the full disk, which would stop its Raft for good), the leader and the other follower
/// go on committing every write, nobody starts an election, and once space is freed the follower
/// catches up by itself — no restart — to the same state.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_follower_with_a_full_disk_stays_up_and_catches_up_by_itself_once_space_is_freed() {
    let fs = match Tmpfs::mount(256) {
        Ok(fs) => fs,
        Err(why) => panic!("cannot mount a tmpfs (the test command runs as root): {why}"),
    };
    let env = [("MEMMESH__NODE__MIN_FREE_BYTES", "25165824")];
    let c = TestCluster::start(2, &env).await;
    let leader = c.leader().await;
    let small = fs.0.path().join("node");
    let addr = free_addr();
    let seed = c.addrs[leader].clone();
    let mut follower = NodeProc::start_args(&small, &addr, &["--join", &seed], &env);
    c.wait_voters(3).await;
    let status = |addr: String| async move {
        let mut f = memmesh_client::Client::connect(&addr).await.ok()?;
        f.cluster.status(StatusRequest {}).await.ok().map(|r| r.into_inner())
    };
    let term = status(addr.clone()).await.unwrap().term;
    let mut w = c.client(leader).await;
    for i in 0..20 {
        put_text(&mut w, scope("acme", "alice"), &format!("before {i}")).await;
    }

    let filler = fs.0.path().join("filler");
    let free = |p: &std::path::Path| {
        let out = Command::new("df").args(["-B1", "--output=avail"]).arg(p).output().unwrap();
        String::from_utf8_lossy(&out.stdout).lines().nth(1).unwrap().trim().parse::<u64>().unwrap()
    };
    std::fs::write(&filler, vec![0u8; free(fs.0.path()).saturating_sub(8 << 20) as usize]).unwrap();
    tokio::time::sleep(Duration::from_millis(1200)).await; // it reads its free space twice a second

    // The other two commit every write; the full follower falls behind but stays up.
    let mut last = 0;
    for i in 0..100 {
        last = put_text(&mut w, scope("acme", "alice"), &format!("while full {i}")).await.revision;
    }
    // Several election timeouts (at most 1.2 s each with the default raft settings) while full:
    // every message the leader sends now carries entries the follower refuses.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let s = status(addr.clone()).await.expect("the full follower still answers");
    assert!(s.applied_index < last, "the full follower took the entries (applied {}, last {last})", s.applied_index);
    assert_eq!((s.role.as_str(), s.term), ("follower", term), "the full follower started an election");

    std::fs::remove_file(&filler).unwrap();
    let caught_up = eventually(Duration::from_secs(20), || {
        let addr = addr.clone();
        async move { status(addr).await.is_some_and(|s| s.applied_index >= last) }
    })
    .await;
    assert!(caught_up, "the follower did not catch up once space was freed");
    let s = status(addr.clone()).await.unwrap();
    assert_eq!((s.role.as_str(), s.term), ("follower", term));
    let mut f = memmesh_client::Client::connect(&addr).await.unwrap();
    let read = Some(ReadOptions { consistency: ReadConsistency::Serializable as i32, min_revision: last });
    let mine = list_all(&mut f, ListRequest { scope: Some(scope("acme", "alice")), read, ..Default::default() }).await;
    let theirs = list_all(&mut w, ListRequest { scope: Some(scope("acme", "alice")), ..Default::default() }).await;
    assert_eq!(mine.len(), 120);
    assert_eq!(mine, theirs, "the follower's replica differs from the leader's");
    follower.kill9();
}
