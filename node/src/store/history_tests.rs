//! The version history when a change of state alone keeps the previous version inside the new
//! record (see `history`): every version readable as if it had been copied to `versions`.

use memmesh_proto::{CubeState, MemCube, Provenance, UpdateRequest};

use super::export::{export, ExportItem, ExportQuery};
use super::history::{merge_state_patches, prior, StatePatch};
use super::keys::version_key;
use super::lifecycle_tests::with_ttl;
use super::put_tests::Replica;
use super::{cf, decode_cube, CF_CUBES, CF_VERSIONS};
use crate::model::Dedupe;
use crate::raft::{Op, Pb};

/// A record with `patch` merged into it, as RocksDB's merge operator makes it.
fn merged(record: &[u8], patch: &StatePatch) -> Vec<u8> {
    merge_state_patches(Some(record), std::iter::once(prost::Message::encode_to_vec(patch))).unwrap()
}

#[test]
fn a_merged_state_patch_decodes_as_the_new_version_and_cuts_back_to_the_old() {
    let old = MemCube {
        id: "x".into(),
        version: 7,
        revision: 90,
        updated_at_ms: 1_234,
        state: CubeState::Archived as i32,
        provenance: Some(Provenance { origin_agent: "a".into(), request_id: "req-1".into(), parents: vec!["p".into()] }),
        ..Default::default()
    };
    let old_bytes = prost::Message::encode_to_vec(&old);
    // Zero values must override too: an empty request id, time 0, the default state.
    let mut new = old.clone();
    (new.version, new.revision, new.updated_at_ms, new.state) = (8, 91, 0, 0);
    new.provenance.as_mut().unwrap().request_id = String::new();
    let patch = StatePatch { updated_at_ms: 0, version: 8, revision: 91, state: 0, request_id: String::new() };
    let bytes = merged(&old_bytes, &patch);
    assert_eq!(decode_cube(CF_CUBES, &bytes).unwrap(), new, "the parents are merged once, not appended twice");
    assert_eq!(prior(CF_CUBES, &bytes).unwrap(), Some(old_bytes.as_slice()));
    assert_eq!(prior(CF_CUBES, &old_bytes).unwrap(), None, "a record encoded whole holds no previous version");
    // Decoding and encoding again drops the marker: the record then holds one version.
    let again = prost::Message::encode_to_vec(&decode_cube(CF_CUBES, &bytes).unwrap());
    assert_eq!(prior(CF_CUBES, &again).unwrap(), None);
    // A record of a cube without provenance gets none, whatever the patch's request id.
    let plain = MemCube { version: 1, ..Default::default() };
    let patch = StatePatch { version: 2, state: CubeState::Expired as i32, request_id: "r".into(), ..Default::default() };
    let next = MemCube { version: 2, state: CubeState::Expired as i32, ..Default::default() };
    assert_eq!(decode_cube(CF_CUBES, &merged(&prost::Message::encode_to_vec(&plain), &patch)).unwrap(), next);
    // Two patches merged at once: each cuts back to the one before.
    let two = merge_state_patches(Some(&old_bytes), [prost::Message::encode_to_vec(&patch), prost::Message::encode_to_vec(&patch)].iter()).unwrap();
    let one = prior(CF_CUBES, &two).unwrap().unwrap();
    assert_eq!(prior(CF_CUBES, one).unwrap(), Some(old_bytes.as_slice()));
    // What cannot be merged is refused (RocksDB reports corruption), never made up.
    assert_eq!(merge_state_patches(None, std::iter::once(prost::Message::encode_to_vec(&patch))), None, "no record");
    assert_eq!(merge_state_patches(Some(&old_bytes), std::iter::once(vec![0xff_u8; 3])), None, "an operand that does not decode");
}

fn stored_versions(r: &Replica) -> Vec<u64> {
    let db = r.db();
    db.iterator_cf(cf(db, CF_VERSIONS), rocksdb::IteratorMode::Start).map(|kv| super::keys::u64_from_key(&kv.unwrap().0[16..]).unwrap()).collect()
}

/// (version, state, importance) of each version.
fn shape(versions: &[MemCube]) -> Vec<(u64, i32, f32)> {
    versions.iter().map(|c| (c.version, c.state, c.importance)).collect()
}

#[tokio::test]
async fn an_expiry_stores_no_copy_yet_every_version_reads_as_before() {
    let mut r = Replica::new();
    // Expires at 11_001 ms: the edit at ~5_000 comes before.
    let id = r.put(vec![with_ttl(1, "short", 10)], Dedupe::None).await.cubes[0].0.id.clone();
    let edit = UpdateRequest { id: id.clone(), importance: Some(0.5), ..Default::default() };
    r.apply(Op::Update { patch: Pb(edit), embedding: None }).await.unwrap();
    let step = r.apply(Op::Expire { at_ms: 20_000, items: vec![(id.clone(), 2)] }).await.unwrap();
    assert_eq!(step.merged, 1);
    assert_eq!(stored_versions(&r), vec![1], "version 2 lives inside version 3's record, not copied");

    let ulid = id.parse().unwrap();
    let expected = vec![(1, CubeState::Active as i32, 0.0), (2, CubeState::Active as i32, 0.5), (3, CubeState::Expired as i32, 0.5)];
    let history = r.reader.history(ulid).unwrap();
    assert_eq!(shape(&history), expected);
    for c in &history {
        assert_eq!(r.reader.get_version(ulid, c.version).unwrap().as_ref(), Some(c), "version {}", c.version);
        assert_eq!(r.reader.get_as_of(ulid, c.revision).unwrap().as_ref(), Some(c), "as of revision {}", c.revision);
    }
    assert_eq!(r.reader.get_version(ulid, 4).unwrap(), None);
    // The expiry is a merge operand until RocksDB merges it: flushed and compacted (and the
    // index rebuilt from the records, as at a restart), the record reads the same.
    let db = r.db();
    let unmerged = db.get_cf(cf(db, CF_CUBES), ulid.to_bytes()).unwrap();
    db.flush_cfs_opt(&[cf(db, CF_CUBES)], &rocksdb::FlushOptions::default()).unwrap();
    db.compact_range_cf(cf(db, CF_CUBES), None::<&[u8]>, None::<&[u8]>);
    assert_eq!(db.get_cf(cf(db, CF_CUBES), ulid.to_bytes()).unwrap(), unmerged, "merged at compaction into the same bytes");
    assert_eq!(r.reader.history(ulid).unwrap(), history);
    let before = r.index.indexed(ulid);
    r.rebuild();
    assert_eq!(r.index.indexed(ulid), before, "the index kept in step is the one a restart rebuilds");

    // Restoring is a whole new version: the expired record, with version 2 inside it, moves to
    // `versions` as it is.
    r.apply(Op::RestoreWithTtl { id: id.clone(), expected_version: 0, ttl_seconds: 0 }).await.unwrap();
    assert_eq!(stored_versions(&r), vec![1, 3]);
    let history = r.reader.history(ulid).unwrap();
    assert_eq!(shape(&history[..3]), expected, "the versions before the restore are all still there");
    assert_eq!(history[3].state, CubeState::Active as i32);
    assert_eq!(r.reader.get_version(ulid, 2).unwrap().as_ref(), Some(&history[1]));

    // Export with history reads through the same walk.
    let mut exported = Vec::new();
    export(r.db(), &ExportQuery { scope: history[0].scope.clone().unwrap(), as_of: None, history: true }, |item| {
        if let ExportItem::Cube(c) = item {
            exported.push(c);
        }
        true
    })
    .unwrap();
    assert_eq!(shape(&exported[0].history), expected);
}

#[tokio::test]
async fn a_read_of_an_expired_cube_keeps_the_version_inside_its_record() {
    // A read with `record_access` re-encodes the current record (usage is not versioned): the
    // version inside it must be stored first, or the history would lose it.
    let (mut a, mut b) = (Replica::new(), Replica::new());
    let mut id = String::new();
    for r in [&mut a, &mut b] {
        id = r.put(vec![with_ttl(1, "short", 1)], Dedupe::None).await.cubes[0].0.id.clone();
        r.apply(Op::Expire { at_ms: 5_000, items: vec![(id.clone(), 1)] }).await.unwrap();
    }
    a.apply(Op::Touch { id: id.clone() }).await.unwrap();
    assert_eq!(stored_versions(&a), vec![1]);
    assert_eq!(stored_versions(&b), Vec::<u64>::new());
    let ulid = id.parse().unwrap();
    let (ha, hb) = (a.reader.history(ulid).unwrap(), b.reader.history(ulid).unwrap());
    assert_eq!(shape(&ha), shape(&hb), "the same history either way");
    assert_eq!(ha[1].usage.as_ref().map(|u| u.access_count), Some(1));
    let record = a.db().get_cf(cf(a.db(), CF_CUBES), id.parse::<ulid::Ulid>().unwrap().to_bytes()).unwrap().unwrap();
    assert_eq!(prior(CF_CUBES, &record).unwrap(), None, "the record was encoded whole again");
    assert!(a.db().get_cf(cf(a.db(), CF_VERSIONS), version_key(ulid, 1)).unwrap().is_some());
}
