//! Retrieval feedback, applied: stored per tenant, all or nothing, bounded, and gone with the
//! cubes it is about.

use memmesh_proto::Scope;
use rocksdb::WriteBatch;
use ulid::Ulid;

use super::feedback::{purge_cube, records, stage_with_capacity};
use super::put_tests::{cube, input, Replica};
use crate::model::{ApplyError, Dedupe, FeedbackRecord, Pb};
use crate::raft::Op;

fn record(cube_id: &str, query: &str) -> FeedbackRecord {
    // The scope is filled in by apply from the stored cube.
    FeedbackRecord { scope: Pb(Scope::default()), cube_id: cube_id.into(), query: query.into(), negative: false, actor: "a".into(), at_ms: 1 }
}

#[tokio::test]
async fn feedback_is_stored_with_its_cubes_scope_all_or_nothing_and_purged_with_the_cube_or_its_scope() {
    let mut r = Replica::new();
    let out = r.put(vec![cube(1, input("u", "one")), cube(2, input("u", "two")), cube(3, input("v", "three"))], Dedupe::None).await;
    let ids: Vec<String> = out.cubes.iter().map(|c| c.0.id.clone()).collect();
    let ops = |rs: Vec<FeedbackRecord>| Op::Feedback { records: rs };
    r.apply(ops(vec![record(&ids[0], "a"), record(&ids[1], "b"), record(&ids[1], "c"), record(&ids[2], "d")])).await.unwrap();
    let stored = r.reader.feedback("t").unwrap();
    assert_eq!(stored.iter().map(|f| f.query.as_str()).collect::<Vec<_>>(), ["a", "b", "c", "d"]);
    assert_eq!(stored[3].scope.0.user, "v", "the scope is the cube's, taken at apply");

    // One missing cube refuses the whole write.
    let missing = Ulid::from_parts(9, 9).to_string();
    let e = r.apply(ops(vec![record(&ids[0], "e"), record(&missing, "f")])).await.unwrap_err();
    assert!(matches!(e, ApplyError::NotFound { .. }), "{e:?}");
    assert_eq!(r.reader.feedback("t").unwrap().len(), 4);

    // Purging a cube takes the feedback about it; purging a scope, the feedback about its cubes.
    r.apply(Op::PurgeCube { id: ids[1].clone() }).await.unwrap();
    assert_eq!(r.reader.feedback("t").unwrap().iter().map(|f| f.query.as_str()).collect::<Vec<_>>(), ["a", "d"]);
    r.apply(Op::PurgeScope { scope: Pb(Scope { tenant: "t".into(), user: "u".into(), ..Default::default() }) }).await.unwrap();
    assert_eq!(r.reader.feedback("t").unwrap().iter().map(|f| f.query.as_str()).collect::<Vec<_>>(), ["d"]);
    // Records that follow start from the kept count, not from what was purged.
    r.apply(ops(vec![record(&ids[2], "g")])).await.unwrap();
    assert_eq!(r.reader.feedback("t").unwrap().len(), 2);
}

#[test]
fn a_tenant_keeps_its_most_recent_records_and_forgets_the_cube_index_of_dropped_ones() {
    let dir = tempfile::TempDir::new().unwrap();
    let db = super::dbs::open(dir.path()).unwrap().state;
    let cubes: Vec<Ulid> = (0..5).map(|i| Ulid::from_parts(100, i)).collect();
    for (i, c) in cubes.iter().enumerate() {
        let mut b = WriteBatch::default();
        stage_with_capacity(&db, &mut b, "t", &[(*c, record(&c.to_string(), &format!("q{i}")))], 3).unwrap();
        db.write(b).unwrap();
    }
    let kept: Vec<String> = records(&db, "t").unwrap().into_iter().map(|(_, r)| r.query).collect();
    assert_eq!(kept, ["q2", "q3", "q4"]);
    // The dropped records' cube index went with them: purging such a cube finds nothing.
    let mut dropped = Default::default();
    purge_cube(&db, &mut WriteBatch::default(), cubes[0], &mut dropped).unwrap();
    assert!(dropped.is_empty(), "{dropped:?}");
    purge_cube(&db, &mut WriteBatch::default(), cubes[4], &mut dropped).unwrap();
    assert_eq!(dropped.get("t"), Some(&1));
}
