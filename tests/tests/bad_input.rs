//! Every validation rule answers with its documented status and writes nothing.

use memmesh_tests::proto::*;
use memmesh_tests::*;
use tonic::Code;

fn expect(r: Result<impl std::fmt::Debug, tonic::Status>, code: Code, needle: &str) {
    let e = r.expect_err("request must be rejected");
    assert_eq!(e.code(), code, "{}", e.message());
    assert!(e.message().contains(needle), "message {:?} should mention {needle:?}", e.message());
}

#[tokio::test]
async fn invalid_writes_are_rejected_with_clear_statuses_and_write_nothing() {
    let node = TestNode::start();
    let mut c = node.client().await;
    let before = applied(&mut c).await;
    let ok = || text_cube(scope("acme", "alice"), "fine");
    let put = |cube: CubeInput| PutRequest { cube: Some(cube), request_id: String::new(), ..Default::default() };

    let mut empty = ok();
    empty.content = Some(Content::default());
    expect(c.memory.put(put(empty)).await, Code::InvalidArgument, "cube.content.text: must not be empty");

    let big = text_cube(scope("acme", "alice"), &"x".repeat(256 * 1024 + 1));
    expect(c.memory.put(put(big)).await, Code::InvalidArgument, "limit is 262144");

    let mut tags = ok();
    tags.tags = (0..65).map(|i| format!("t{i}")).collect();
    expect(c.memory.put(put(tags)).await, Code::InvalidArgument, "65 tags given, limit is 64");

    let mut attrs = ok();
    attrs.attributes = (0..65).map(|i| (format!("k{i}"), "v".to_string())).collect();
    expect(c.memory.put(put(attrs)).await, Code::InvalidArgument, "65 attributes given, limit is 64");

    for bad in ["has space", "slash/y", "ünïcode", ""] {
        let cube = text_cube(Scope { tenant: bad.into(), ..Default::default() }, "x");
        expect(c.memory.put(put(cube)).await, Code::InvalidArgument, "cube.scope.tenant");
    }
    let cube = text_cube(Scope { tenant: "acme".into(), user: "a\u{0}b".into(), ..Default::default() }, "x");
    expect(c.memory.put(put(cube)).await, Code::InvalidArgument, "cube.scope.user: invalid character");
    let mut no_scope = ok();
    no_scope.scope = None;
    expect(c.memory.put(put(no_scope)).await, Code::InvalidArgument, "cube.scope: is required");

    let mut mt = ok();
    mt.memory_type = 99;
    expect(c.memory.put(put(mt)).await, Code::InvalidArgument, "cube.memory_type: unknown enum value 99");
    let mut kind = ok();
    kind.kind = 42;
    expect(c.memory.put(put(kind)).await, Code::InvalidArgument, "cube.kind: unknown enum value 42");

    let rid = PutRequest { cube: Some(ok()), request_id: "bad id!".into(), ..Default::default() };
    expect(c.memory.put(rid).await, Code::InvalidArgument, "request_id");

    expect(
        c.memory.put_batch(PutBatchRequest { cubes: vec![], request_id: String::new(), ..Default::default() }).await,
        Code::InvalidArgument,
        "cubes: must not be empty",
    );
    let too_many = PutBatchRequest { cubes: (0..1001).map(|_| ok()).collect(), request_id: String::new(), ..Default::default() };
    expect(c.memory.put_batch(too_many).await, Code::InvalidArgument, "1001 cubes given, the batch limit is 1000");
    // One bad cube spoils the whole batch: nothing partial.
    let mut cubes: Vec<_> = (0..10).map(|_| ok()).collect();
    cubes[7].content = Some(Content::default());
    expect(
        c.memory.put_batch(PutBatchRequest { cubes, request_id: String::new(), ..Default::default() }).await,
        Code::InvalidArgument,
        "cubes[7].content.text",
    );
    let mixed = PutBatchRequest { cubes: vec![ok(), text_cube(scope("globex", "x"), "y")], request_id: String::new(), ..Default::default() };
    expect(c.memory.put_batch(mixed).await, Code::InvalidArgument, "one tenant");

    assert_eq!(applied(&mut c).await, before, "no rejected request reached the log");
    let listed = list_all(&mut c, ListRequest { scope: Some(scope("acme", "")), states: vec![1, 2, 3], ..Default::default() }).await;
    assert!(listed.is_empty(), "nothing was written");
}

#[tokio::test]
async fn bad_reads_and_state_violations_get_their_codes() {
    let node = TestNode::start();
    let mut c = node.client().await;
    let cube = c
        .memory
        .put(PutRequest { cube: Some(text_cube(scope("acme", "a"), "x")), request_id: String::new(), ..Default::default() })
        .await
        .unwrap()
        .into_inner()
        .cube
        .unwrap();
    let get = |id: &str| GetRequest { id: id.into(), ..Default::default() };

    expect(c.memory.get(get("not-a-ulid")).await, Code::InvalidArgument, "id: not a valid cube id");
    expect(c.memory.get(get("01ARZ3NDEKTSV4RRFFQ69G5FAV")).await, Code::NotFound, "not found");
    let future = GetRequest { id: cube.id.clone(), as_of_revision: 1_000_000, ..Default::default() };
    expect(c.memory.get(future).await, Code::OutOfRange, "not applied yet");
    let both = GetRequest { id: cube.id.clone(), version: 1, as_of_revision: 1, ..Default::default() };
    expect(c.memory.get(both).await, Code::InvalidArgument, "either version or as_of_revision");

    let before = applied(&mut c).await;
    expect(c.memory.restore(RestoreRequest { id: cube.id.clone(), ..Default::default() }).await, Code::FailedPrecondition, "nothing to restore");
    let nothing = UpdateRequest { id: cube.id.clone(), ..Default::default() };
    expect(c.memory.update(nothing).await, Code::InvalidArgument, "nothing to update");
    let to_deleted = UpdateRequest { id: cube.id.clone(), state: Some(CubeState::Deleted as i32), ..Default::default() };
    expect(c.memory.update(to_deleted).await, Code::InvalidArgument, "use Delete/Restore");
    let mut tags = UpdateRequest { id: cube.id.clone(), ..Default::default() };
    tags.add_tags = (0..65).map(|i| format!("t{i}")).collect();
    expect(c.memory.update(tags).await, Code::InvalidArgument, "limit is 64");
    expect(
        c.memory.rollback(RollbackRequest { id: cube.id.clone(), to_version: 0, ..Default::default() }).await,
        Code::InvalidArgument,
        "to_version",
    );
    let cur = c.memory.get(get(&cube.id)).await.unwrap().into_inner().cube.unwrap();
    assert_eq!(cur, cube, "rejected updates changed nothing");

    c.memory.delete(DeleteRequest { id: cube.id.clone(), ..Default::default() }).await.unwrap();
    expect(c.memory.delete(DeleteRequest { id: cube.id.clone(), ..Default::default() }).await, Code::FailedPrecondition, "already deleted");
    let upd = UpdateRequest { id: cube.id.clone(), importance: Some(0.5), ..Default::default() };
    expect(c.memory.update(upd).await, Code::FailedPrecondition, "restore it before updating");
    assert!(applied(&mut c).await > before);

    let list = |f: &dyn Fn(&mut ListRequest)| {
        let mut r = ListRequest { scope: Some(scope("acme", "")), ..Default::default() };
        f(&mut r);
        r
    };
    expect(c.memory.list(list(&|r| r.page_size = 5000)).await, Code::InvalidArgument, "page_size");
    expect(c.memory.list(list(&|r| r.page_token = "garbage".into())).await, Code::InvalidArgument, "page token");
    expect(c.memory.list(list(&|r| r.scope = None)).await, Code::InvalidArgument, "scope: is required");
    expect(c.memory.list(list(&|r| r.states = vec![17])).await, Code::InvalidArgument, "states[0]");
    expect(c.memory.history(HistoryRequest { id: "01ARZ3NDEKTSV4RRFFQ69G5FAV".into(), ..Default::default() }).await, Code::NotFound, "not found");
}
