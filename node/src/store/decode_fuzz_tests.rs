//! Decoders against damaged input (a fuzz smoke run on stable Rust): what a node reads from its
//! log, from a peer's snapshot, from its own column families and from clients is fed real
//! encodings with bits flipped, bytes cut, inserted or overwritten, and random bytes. Every
//! decoder must answer with a value or an error — never a panic. A panicking input is printed
//! with the seed and round that produced it, to become a regression test.
//!
//! The seed is fixed so CI is repeatable; `MEMMESH_FUZZ_SEED` and `MEMMESH_FUZZ_ROUNDS` run
//! others (see the README, Testing).

use std::panic::{catch_unwind, AssertUnwindSafe};

use memmesh_proto::{CubeInput, PutRequest};
use openraft::{CommittedLeaderId, EntryPayload};
use prost::Message;

use super::put_tests::{cube, input, with_vector, Replica};
use super::{decode, decode_cube, keys, snapshot, CF_CUBES};
use crate::model::{Dedupe, Limits};
use crate::raft::{Entry, LogId, Op, Proposal, Request};

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        // xorshift64*
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

fn seed() -> u64 {
    std::env::var("MEMMESH_FUZZ_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(0x006d_656d_6d65_7368)
}

fn rounds(default: usize) -> usize {
    std::env::var("MEMMESH_FUZZ_ROUNDS").ok().and_then(|s| s.parse().ok()).unwrap_or(default)
}

/// `valid` damaged one way or another (or replaced by random bytes).
fn mutate(rng: &mut Rng, valid: &[u8]) -> Vec<u8> {
    let mut b = valid.to_vec();
    match rng.below(6) {
        0 => {
            for _ in 0..1 + rng.below(4) {
                if !b.is_empty() {
                    let i = rng.below(b.len());
                    b[i] ^= 1 << rng.below(8);
                }
            }
        }
        1 => b.truncate(rng.below(b.len() + 1)),
        2 => {
            let at = rng.below(b.len() + 1);
            let n = 1 + rng.below(16);
            let junk: Vec<u8> = (0..n).map(|_| rng.next() as u8).collect();
            b.splice(at..at, junk);
        }
        3 => {
            // Lengths and varints are where decoders go wrong: overwrite with extremes.
            if !b.is_empty() {
                let i = rng.below(b.len());
                b[i] = [0x00, 0x7f, 0x80, 0xff][rng.below(4)];
            }
        }
        4 => {
            if b.len() >= 2 {
                let (i, j) = (rng.below(b.len()), rng.below(b.len()));
                b.swap(i, j);
            }
        }
        _ => b = (0..rng.below(256)).map(|_| rng.next() as u8).collect(),
    }
    b
}

/// Runs `f` on `rounds` damaged versions of each of `valid`; a panic is reported with its input.
fn fuzz(name: &str, valid: &[Vec<u8>], rounds: usize, mut f: impl FnMut(&[u8])) {
    let seed = seed();
    let mut rng = Rng(seed);
    for round in 0..rounds {
        let bytes = mutate(&mut rng, &valid[round % valid.len()]);
        if let Err(p) = catch_unwind(AssertUnwindSafe(|| f(&bytes))) {
            eprintln!("{name}: panic at seed {seed} round {round} on {} bytes: {:02x?}", bytes.len(), bytes);
            std::panic::resume_unwind(p);
        }
    }
}

fn entry(index: u64, op: Op) -> Entry {
    let req = Request {
        tenant: "t".into(),
        request_id: format!("r{index}"),
        fingerprint: [7; 32],
        at_ms: 1_000,
        actor: "fuzz".into(),
        quota: Default::default(),
        op,
    };
    Entry { log_id: LogId::new(CommittedLeaderId::new(3, 1), index), payload: EntryPayload::Normal(Proposal { requests: vec![req] }) }
}

#[test]
fn log_entries_decode_to_a_value_or_an_error() {
    let cubes = vec![with_vector(cube(1, input("u", "alpha beta")), [1.0, 0.0, 0.0]), cube(2, input("v", "gamma"))];
    let valid: Vec<Vec<u8>> = [
        entry(1, Op::Put { cubes: cubes.clone() }),
        entry(2, Op::PutDedupe { cubes, dedupe: Dedupe::Semantic { threshold: 0.9 } }),
        entry(3, Op::Expire { at_ms: 9, items: vec![("01ARZ3NDEKTSV4RRFFQ69G5FAV".into(), 4)] }),
        Entry { log_id: LogId::new(CommittedLeaderId::new(3, 1), 4), payload: EntryPayload::Blank },
    ]
    .iter()
    .map(super::encode)
    .collect();
    let ok = valid.iter().all(|b| decode::<Entry>("log", b).is_ok());
    assert!(ok, "the valid encodings decode");
    fuzz("log entry", &valid, rounds(20_000), |b| {
        let _ = decode::<Entry>("log", b);
        let _ = crate::raft::wire::decode::<Entry>(b);
    });
}

#[tokio::test]
async fn a_damaged_snapshot_is_refused_before_anything_is_staged_never_installed_or_a_panic() {
    let mut r = Replica::new();
    let cubes: Vec<_> = (0..20).map(|i| with_vector(cube(i, input("u", &format!("fact {i}"))), [1.0, i as f32, 0.0])).collect();
    r.put(cubes, Dedupe::None).await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.snap");
    snapshot::write(r.db(), &path).unwrap();
    let valid = vec![std::fs::read(&path).unwrap()];
    assert!(snapshot::stage_install(r.db(), &valid[0], &mut rocksdb::WriteBatch::default()).is_ok());
    // The digest: any change at all is refused before anything is staged.
    fuzz("snapshot", &valid, rounds(3_000), |b| {
        let mut batch = rocksdb::WriteBatch::default();
        let installed = snapshot::stage_install(r.db(), b, &mut batch).is_ok();
        assert!(!installed || b == valid[0].as_slice(), "a damaged snapshot ({} bytes) was installed", b.len());
    });
    // A file of the format before the digest (MMSNAP1, no digest) is still read.
    let mut v1 = valid[0][..valid[0].len() - 32].to_vec();
    v1[..8].copy_from_slice(b"MMSNAP1\n");
    assert!(snapshot::stage_install(r.db(), &v1, &mut rocksdb::WriteBatch::default()).is_ok());
}

#[test]
fn stored_cubes_and_index_keys_decode_to_a_value_or_an_error() {
    let stored: Vec<Vec<u8>> = (0..4u64).map(|i| with_vector(cube(i, input("u", "some text")), [0.0, 1.0, i as f32]).0.encode_to_vec()).collect();
    fuzz("stored cube", &stored, rounds(20_000), |b| {
        let _ = decode_cube(CF_CUBES, b);
    });
    let id = ulid::Ulid::from_parts(7, 9);
    let key_shapes = vec![
        keys::cube_key(id).to_vec(),
        keys::version_key(id, 3).to_vec(),
        keys::expiry_key(5, id).to_vec(),
        keys::link_key(id, id, 2).to_vec(),
        vec![0; 3],
    ];
    fuzz("index key", &key_shapes, rounds(20_000), |k| {
        let _ = keys::u64_from_key(k);
        let _ = keys::id_from_index_key("fuzz", k);
        let _ = keys::link_from_key(k);
    });
}

#[test]
fn client_requests_decode_and_validate_to_a_value_or_an_error() {
    let mut full = input("u", "the text of a cube");
    full.tags = vec!["a".into(), "b".into()];
    full.attributes = [("k".to_string(), "v".to_string())].into();
    full.ttl_seconds = 60;
    full.context = "context".into();
    let valid: Vec<Vec<u8>> = [full, input("", ""), CubeInput::default()]
        .into_iter()
        .map(|c| PutRequest { cube: Some(c), request_id: "r".into(), ..Default::default() }.encode_to_vec())
        .collect();
    let limits = Limits::default();
    fuzz("put request", &valid, rounds(20_000), |b| {
        if let Ok(req) = PutRequest::decode(b) {
            let _ = crate::model::check_cube_input("cube", req.cube.as_ref(), &limits);
        }
    });
    // Text of any shape through the search tokenizer (what BM25 indexes and queries with).
    let texts: Vec<Vec<u8>> =
        ["Über naïve façades — ﬁne ｆｕｌｌ-width 𝔘𝔫𝔦𝔠𝔬𝔡𝔢, it's 3.14!", "a\u{0}b\u{200b}c \u{fffd}"].iter().map(|s| s.as_bytes().to_vec()).collect();
    fuzz("tokenizer", &texts, rounds(20_000), |b| {
        let s = String::from_utf8_lossy(b);
        let _ = crate::index::lexical::term_counts(&s);
        let _ = crate::model::dedupe::normalize_text(&s);
    });
}
