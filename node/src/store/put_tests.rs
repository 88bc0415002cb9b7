//! Write-time deduplication, applied: decided in `apply` against the replicated state, the same
//! on every replica.

use std::sync::Arc;

use memmesh_proto::{Acl, Content, CubeInput, CubeState, Embedding, EventType, MemCube, MemoryType, Scope};
use openraft::storage::RaftStateMachine;
use openraft::{CommittedLeaderId, EntryPayload};
use tempfile::TempDir;

use super::*;
use crate::index::SearchIndex;
use crate::model::{new_cube, Dedupe, PutOutcome};
use crate::raft::durable::Durable;
use crate::raft::{Entry, LogId, Op, Outcome, Pb, Proposal, Request};

const MODEL: &str = "test-model";

pub(super) struct Replica {
    _dir: TempDir,
    sm: StateMachine,
    pub(super) reader: Reader,
    pub(super) feed: Feed,
    pub(super) index: Arc<SearchIndex>,
    reader_db: Arc<rocksdb::DB>,
    next: u64,
}

impl Replica {
    pub(super) fn new() -> Self {
        let dir = TempDir::new().unwrap();
        let db = open(dir.path()).unwrap().state;
        let feed = Feed::new(db.clone(), 64).unwrap();
        let index = Arc::new(SearchIndex::new(Some((MODEL.into(), 3))));
        let durable = Durable::new(Some(LogId::new(CommittedLeaderId::new(u64::MAX, 0), u64::MAX)));
        let sm = StateMachine::new(db.clone(), dir.path().join("snapshots"), feed.clone(), index.clone(), durable).unwrap();
        let reader = Reader::new(db.clone(), sm.applied_watch());
        Replica { _dir: dir, sm, reader, feed, index, next: 1, reader_db: db }
    }

    /// Applies one put of `cubes` and returns its outcome.
    pub(super) async fn put(&mut self, cubes: Vec<Pb<MemCube>>, dedupe: Dedupe) -> Outcome {
        let op = if dedupe == Dedupe::None { Op::Put { cubes } } else { Op::PutDedupe { cubes, dedupe } };
        self.apply(op).await.expect("the put applies")
    }

    /// Applies one write and returns its result.
    pub(super) async fn apply(&mut self, op: Op) -> Result<Outcome, crate::model::ApplyError> {
        let req = Request {
            tenant: "t".into(),
            request_id: String::new(),
            fingerprint: [0; 32],
            at_ms: 5_000 + self.next as i64,
            actor: "test".into(),
            quota: Default::default(),
            op,
        };
        let e =
            Entry { log_id: LogId::new(CommittedLeaderId::new(1, 1), self.next), payload: EntryPayload::Normal(Proposal { requests: vec![req] }) };
        self.next += 1;
        let mut r = self.sm.apply([e]).await.unwrap();
        r.remove(0).0.remove(0).result
    }

    /// What a restart does to the derived state: the search index rebuilt, index entries repaired.
    pub(super) fn rebuild(&self) {
        self.sm.rebuild_index().unwrap();
    }

    pub(super) fn db(&self) -> &rocksdb::DB {
        &self.reader_db
    }

    /// Every key of the reverse link index.
    pub(super) fn sm_links(&self) -> Vec<Vec<u8>> {
        let db = &self.reader_db;
        db.iterator_cf(cf(db, CF_LINKS), rocksdb::IteratorMode::Start).map(|kv| kv.unwrap().0.to_vec()).collect()
    }

    /// Every stored cube of tenant `t`, any state, oldest first.
    pub(super) fn all(&self) -> Vec<MemCube> {
        let filter = crate::model::Filter { states: vec![1, 2, 3, 4], ..Default::default() };
        let q = reader::ListQuery { scope: Scope { tenant: "t".into(), ..Default::default() }, filter, page_size: 1000, ..Default::default() };
        self.reader.list(&q, |_| true).unwrap().cubes
    }
}

pub(super) fn input(user: &str, text: &str) -> CubeInput {
    CubeInput {
        scope: Some(Scope { tenant: "t".into(), user: user.into(), ..Default::default() }),
        content: Some(Content { text: text.into(), ..Default::default() }),
        memory_type: MemoryType::Fact as i32,
        ..Default::default()
    }
}

/// A cube as the API builds it, with a fresh id (increasing with `n`).
pub(super) fn cube(n: u64, i: CubeInput) -> Pb<MemCube> {
    Pb(new_cube(i, ulid::Ulid::from_parts(1_000 + n, 7), 1_000 + n as i64, ""))
}

pub(super) fn with_vector(mut c: Pb<MemCube>, v: [f32; 3]) -> Pb<MemCube> {
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    c.0.embedding = Some(Embedding { vector: v.iter().map(|x| x / norm).collect(), model: MODEL.into() });
    c
}

fn outcomes(o: &Outcome) -> Vec<(PutOutcome, String)> {
    o.results.iter().map(|r| (r.outcome, r.target.clone())).collect()
}

#[tokio::test]
async fn an_exact_duplicate_is_unchanged_or_merged_into_the_cube_that_says_it_first() {
    let mut r = Replica::new();
    let first = r.put(vec![cube(1, input("u", "Alice likes green tea."))], Dedupe::Exact).await;
    let id = first.cubes[0].0.id.clone();
    assert_eq!(outcomes(&first), vec![(PutOutcome::Created, id.clone())]);

    let same = r.put(vec![cube(2, input("u", "  alice LIKES green tea"))], Dedupe::Exact).await;
    assert_eq!(outcomes(&same), vec![(PutOutcome::Unchanged, id.clone())], "nothing new to add");
    assert_eq!(same.cubes[0].0.version, 1, "no new version");

    let mut tagged = input("u", "Alice likes green tea!");
    tagged.tags = vec!["drinks".into()];
    tagged.importance = 0.7;
    let merged = r.put(vec![cube(3, tagged)], Dedupe::Exact).await;
    assert_eq!(outcomes(&merged), vec![(PutOutcome::Merged, id.clone())]);
    let c = &merged.cubes[0].0;
    assert_eq!((c.version, c.tags.clone(), c.importance), (2, vec!["drinks".to_string()], 0.7));
    assert_eq!(c.content.as_ref().unwrap().text, "Alice likes green tea.", "the first wording stands");
    assert_eq!(c.usage.unwrap().access_count, 1, "a merge counts as an access");
    assert_eq!(r.all().len(), 1);

    let history = r.feed.history(1, 3).unwrap();
    let kinds: Vec<i32> = history.iter().flat_map(|rev| rev.events.iter().map(|e| e.kind)).collect();
    assert_eq!(kinds, vec![EventType::Created as i32, EventType::Merged as i32], "an UNCHANGED put changes nothing, so it has no event");
}

#[tokio::test]
async fn dedupe_never_crosses_scopes_memory_types_states_or_modes() {
    let mut r = Replica::new();
    r.put(vec![cube(1, input("u", "same words"))], Dedupe::Exact).await;
    let other_user = r.put(vec![cube(2, input("v", "same words"))], Dedupe::Exact).await;
    let mut pref = input("u", "same words");
    pref.memory_type = MemoryType::Preference as i32;
    let other_type = r.put(vec![cube(3, pref)], Dedupe::Exact).await;
    let mut narrower = input("u", "same words");
    narrower.scope.as_mut().unwrap().agent = "planner".into();
    let other_agent = r.put(vec![cube(4, narrower)], Dedupe::Exact).await;
    let none = r.put(vec![cube(5, input("u", "same words"))], Dedupe::None).await;
    for o in [&other_user, &other_type, &other_agent, &none] {
        assert_eq!(o.results[0].outcome, PutOutcome::Created);
    }
    assert_eq!(r.all().len(), 5);
}

#[tokio::test]
async fn a_batch_collapses_its_own_duplicates_and_is_written_whole() {
    let mut r = Replica::new();
    let mut tagged = input("u", "Bob moved to Lisbon.");
    tagged.tags = vec!["home".into()];
    let out = r
        .put(
            vec![
                cube(1, input("u", "Bob moved to Lisbon")),
                cube(2, input("u", "bob moved to lisbon")),
                cube(3, tagged),
                cube(4, input("u", "Carol")),
            ],
            Dedupe::Exact,
        )
        .await;
    let first = out.cubes[0].0.id.clone();
    let carol = out.cubes[3].0.id.clone();
    assert_eq!(
        outcomes(&out),
        vec![
            (PutOutcome::Created, first.clone()),
            (PutOutcome::Unchanged, first.clone()),
            (PutOutcome::Merged, first.clone()),
            (PutOutcome::Created, carol)
        ]
    );
    let stored = r.all();
    assert_eq!(stored.len(), 2);
    let bob = stored.iter().find(|c| c.id == first).unwrap();
    assert_eq!((bob.version, bob.tags.clone()), (1, vec!["home".to_string()]), "folded in before it was written: one version");
}

#[tokio::test]
async fn restricted_cubes_are_never_targets_and_inputs_with_an_acl_are_always_created() {
    let mut r = Replica::new();
    let mut private = input("u", "the code is 1234");
    private.acl = Some(Acl { restricted: true, readers: vec![], writers: vec![Default::default()] });
    r.put(vec![cube(1, private.clone())], Dedupe::Exact).await;
    let plain = r.put(vec![cube(2, input("u", "the code is 1234"))], Dedupe::Exact).await;
    assert_eq!(plain.results[0].outcome, PutOutcome::Created, "a writer never learns of a cube it may not read");
    let again = r.put(vec![cube(3, private)], Dedupe::Exact).await;
    assert_eq!(again.results[0].outcome, PutOutcome::Created, "merging would drop the access list its writer asked for");
}

#[tokio::test]
async fn deleted_cubes_are_not_targets() {
    let mut r = Replica::new();
    let first = r.put(vec![cube(1, input("u", "x marks the spot"))], Dedupe::Exact).await;
    let req = Request {
        tenant: "t".into(),
        request_id: String::new(),
        fingerprint: [0; 32],
        at_ms: 9_000,
        actor: "test".into(),
        quota: Default::default(),
        op: Op::Delete { id: first.cubes[0].0.id.clone(), expected_version: 0 },
    };
    let e = Entry { log_id: LogId::new(CommittedLeaderId::new(1, 1), r.next), payload: EntryPayload::Normal(Proposal { requests: vec![req] }) };
    r.next += 1;
    r.sm.apply([e]).await.unwrap();
    let again = r.put(vec![cube(2, input("u", "x marks the spot"))], Dedupe::Exact).await;
    assert_eq!(again.results[0].outcome, PutOutcome::Created);
    assert_eq!(r.all().iter().filter(|c| c.state == CubeState::Active as i32).count(), 1);
}

#[tokio::test]
async fn semantic_takes_the_most_similar_cube_above_the_threshold_on_every_replica_alike() {
    let puts: Vec<Vec<Pb<MemCube>>> = vec![
        vec![with_vector(cube(1, input("u", "the meeting is on monday")), [1.0, 0.0, 0.0])],
        vec![with_vector(cube(2, input("u", "lunch with dana")), [0.0, 1.0, 0.0])],
        // Close to the first (cosine ≈ 0.995), far from the second.
        vec![with_vector(cube(3, input("u", "our meeting happens monday")), [1.0, 0.1, 0.0])],
        // Below the threshold to both (cosine ≈ 0.71).
        vec![with_vector(cube(4, input("u", "monday lunch")), [1.0, 1.0, 0.0])],
    ];
    let rule = Dedupe::Semantic { threshold: 0.95 };
    let (mut a, mut b) = (Replica::new(), Replica::new());
    let mut results = Vec::new();
    for p in &puts {
        let (x, y) = (a.put(p.clone(), rule).await, b.put(p.clone(), rule).await);
        assert_eq!(x, y, "replicas decide alike");
        results.push(x);
    }
    let meeting = results[0].cubes[0].0.id.clone();
    assert_eq!(results[2].results[0].outcome, PutOutcome::Unchanged);
    assert_eq!(results[2].results[0].target, meeting);
    assert!(results[2].results[0].similarity > 0.99 && results[2].results[0].similarity < 1.0);
    assert_eq!(results[3].results[0].outcome, PutOutcome::Created);
    assert_eq!(a.all(), b.all(), "replicas store the same cubes");
    assert_eq!(a.all().len(), 3);
    // EXACT ignores vectors: the paraphrase is a new cube.
    let exact = a.put(vec![with_vector(cube(5, input("u", "the meeting is monday")), [1.0, 0.05, 0.0])], Dedupe::Exact).await;
    assert_eq!(exact.results[0].outcome, PutOutcome::Created);
}
