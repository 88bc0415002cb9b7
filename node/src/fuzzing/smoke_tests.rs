//! Damaged input, on stable Rust and without an instrumented build (a smoke run in `cargo
//! test`): the seeds of every target ([`super::seeds`]) with bits flipped, bytes cut, inserted,
//! swapped or overwritten with extremes, and random bytes, through the same entry points as the
//! coverage-guided targets. A panicking input is printed with the seed and round that produced
//! it, to become a regression test.
//!
//! The seed is fixed so CI is repeatable; `MEMMESH_FUZZ_SEED` and `MEMMESH_FUZZ_ROUNDS` run
//! others (see the README, Testing).

use std::panic::{catch_unwind, AssertUnwindSafe};

use memmesh_proto::{CubeInput, PutRequest};
use prost::Message;

use super::seeds::seeds;
use crate::model::Limits;
use crate::store::snapshot;

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

#[test]
fn log_entries_and_peer_messages_decode_to_a_value_or_an_error() {
    fuzz("log entry", &seeds("log_entry"), rounds(20_000), super::log_entry);
    fuzz("peer message", &seeds("peer_message"), rounds(20_000), super::peer_message);
}

#[test]
fn a_damaged_snapshot_is_refused_before_anything_is_staged_never_installed_or_a_panic() {
    let db = super::scratch_db();
    let valid = vec![seeds("snapshot")[0][1..].to_vec()];
    assert!(snapshot::stage_install(db, &valid[0], &mut rocksdb::WriteBatch::default()).is_ok());
    // The digest: any change at all is refused before anything is staged.
    fuzz("snapshot", &valid, rounds(3_000), |b| {
        let installed = snapshot::stage_install(db, b, &mut rocksdb::WriteBatch::default()).is_ok();
        assert!(!installed || b == valid[0].as_slice(), "a damaged snapshot ({} bytes) was installed", b.len());
    });
    // A file of the format before the digest (MMSNAP1, no digest) is still read.
    let mut v1 = valid[0][..valid[0].len() - 32].to_vec();
    v1[..8].copy_from_slice(b"MMSNAP1\n");
    assert!(snapshot::stage_install(db, &v1, &mut rocksdb::WriteBatch::default()).is_ok());
}

#[test]
fn stored_cubes_index_keys_and_text_decode_to_a_value_or_an_error() {
    fuzz("stored cube or key", &seeds("stored"), rounds(20_000), super::stored);
    fuzz("text", &seeds("text"), rounds(20_000), super::text);
}

#[test]
fn client_requests_decode_and_validate_to_a_value_or_an_error() {
    let mut full =
        CubeInput { scope: Some(memmesh_proto::Scope { tenant: "t".into(), user: "u".into(), ..Default::default() }), ..Default::default() };
    full.content = Some(memmesh_proto::Content { text: "the text of a cube".into(), ..Default::default() });
    full.tags = vec!["a".into(), "b".into()];
    full.attributes = [("k".to_string(), "v".to_string())].into();
    full.ttl_seconds = 60;
    full.context = "context".into();
    let valid: Vec<Vec<u8>> = [full, CubeInput::default()]
        .into_iter()
        .map(|c| PutRequest { cube: Some(c), request_id: "r".into(), ..Default::default() }.encode_to_vec())
        .collect();
    let limits = Limits::default();
    fuzz("put request", &valid, rounds(20_000), |b| {
        if let Ok(req) = PutRequest::decode(b) {
            let _ = crate::model::check_cube_input("cube", req.cube.as_ref(), &limits);
        }
    });
}
