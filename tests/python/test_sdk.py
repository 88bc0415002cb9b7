"""The Python SDK against real nodes: the documented surface, typed errors, failover with the
same request id, subscribe across a leader kill (each revision once, in order), the mirror,
the asyncio client, and the committed stubs matching the protos."""

from __future__ import annotations

import asyncio
import filecmp
import os
import subprocess
import threading
import time
from pathlib import Path
from typing import List

import grpc
import pytest

import memmesh
from memmesh.v1 import cluster_pb2

from conftest import BOOT, ROOT, Node, start_node, wait_for


def test_the_documented_surface_round_trips(nodes: List[Node], tmp_path: Path) -> None:
    n = start_node(nodes, tmp_path)
    with memmesh.Client(n.addr) as c:
        cube = c.put(tenant="acme", user="alice", text="Alice prefers window seats", tags=["travel"], memory_type="PREFERENCE")
        assert (cube.text, cube.version, cube.memory_type, cube.tags) == ("Alice prefers window seats", 1, "PREFERENCE", ["travel"])
        assert cube.revision > 0 and len(cube.id) == 26
        assert c.get(cube.id) == cube
        hits = c.search(tenant="acme", user="alice", query="where does alice like to sit", k=3)
        assert hits[0].cube.id == cube.id and hits[0].score > 0 and hits[0].dense_score is not None
        v2 = c.update(cube.id, "Alice prefers aisle seats", expected_version=1)
        assert v2.version == 2
        with pytest.raises(memmesh.Conflict):
            c.update(cube.id, "stale write", expected_version=1)
        assert [v.text for v in c.history(cube.id)] == ["Alice prefers window seats", "Alice prefers aisle seats"]
        assert c.rollback(cube.id, 1).text == "Alice prefers window seats"
        assert c.delete(cube.id).state == "DELETED"
        assert c.restore(cube.id).state == "ACTIVE"
        batch = c.put_batch([{"tenant": "acme", "user": "alice", "text": f"note {i}"} for i in range(25)])
        assert len(batch) == 25
        listed = list(c.list("acme", "alice", page_size=10))
        assert len(listed) == 26 and len({x.id for x in listed}) == 26
        assert c.purge(cube.id) == 1
        with pytest.raises(memmesh.NotFound):
            c.get(cube.id)
        assert c.purge(scope=memmesh.Scope("acme", "alice")) == 25


def test_errors_carry_the_grpc_code_and_the_field(nodes: List[Node], tmp_path: Path) -> None:
    n = start_node(nodes, tmp_path)
    c = memmesh.Client(n.addr)
    with pytest.raises(memmesh.InvalidArgument) as e:
        c.put(tenant="acme", user="bad user!", text="x")
    assert e.value.code == grpc.StatusCode.INVALID_ARGUMENT
    assert e.value.field == "cube.scope.user", e.value
    with pytest.raises(memmesh.InvalidArgument) as e:
        c.put(tenant="acme", user="alice", text="x", importance=7.0)
    assert e.value.field == "cube.importance"
    with pytest.raises(memmesh.NotFound):
        c.get("01J00000000000000000000000")
    with pytest.raises(ValueError, match="not one of"):
        c.put(tenant="acme", user="alice", text="x", memory_type="GOSSIP")
    with pytest.raises(TypeError, match="unknown cube fields"):
        c.put(tenant="acme", user="alice", text="x", colour="red")


def test_a_dead_address_fails_over_and_a_retried_write_lands_once(nodes: List[Node], tmp_path: Path) -> None:
    n = start_node(nodes, tmp_path)
    # The first address refuses connections: UNAVAILABLE, then the next one.
    c = memmesh.Client(["127.0.0.1:1", n.addr], retries=3)
    a = c.put(tenant="acme", user="bob", text="Bob runs on Tuesdays", request_id="req-run-1")
    assert c.addr == n.addr
    # The same request id again (what a retry after a lost answer sends): the same cube.
    b = c.put(tenant="acme", user="bob", text="Bob runs on Tuesdays", request_id="req-run-1")
    assert b.id == a.id and len(list(c.list("acme", "bob"))) == 1
    with pytest.raises(memmesh.Unavailable):
        memmesh.Client("127.0.0.1:1", retries=1).get(a.id)


def test_tokens_grants_and_audit_for_admins(nodes: List[Node], tmp_path: Path) -> None:
    n = start_node(nodes, tmp_path, auth=True)
    admin = memmesh.Client(n.addr, token=BOOT)
    alice_tok = admin.create_token("acme", "alice", role="WRITER").token
    bob_tok = admin.create_token("acme", "bob", role="WRITER").token
    alice, bob = memmesh.Client(n.addr, token=alice_tok), memmesh.Client(n.addr, token=bob_tok)
    cube = alice.put(tenant="acme", user="alice", text="Alice's trip is in May")
    with pytest.raises(memmesh.NotFound):
        bob.get(cube.id)  # unreadable is indistinguishable from missing
    grant = alice.create_grant(memmesh.Scope("acme", "alice"), "bob")
    assert bob.get(cube.id).id == cube.id
    assert [g.id for g in admin.list_grants("acme")] == [grant.id]
    admin.revoke_grant(grant.id)
    with pytest.raises(memmesh.NotFound):
        bob.get(cube.id)
    assert len(admin.list_tokens("acme")) == 2
    assert any(e.operation == "create-grant" for e in admin.audit("acme"))
    with pytest.raises(memmesh.PermissionDenied):
        alice.list_tokens("acme")
    with pytest.raises(memmesh.Unauthenticated):
        memmesh.Client(n.addr, token="wrong").get(cube.id)


def test_async_client(nodes: List[Node], tmp_path: Path) -> None:
    n = start_node(nodes, tmp_path)

    async def main() -> None:
        async with memmesh.AsyncClient(n.addr) as c:
            words = ["apples", "boats", "chess", "dunes", "eagles", "ferns", "glaciers", "harps", "igloos", "jazz"]
            cubes = await asyncio.gather(*(c.put(tenant="acme", user="carol", text=f"carol likes {w}") for w in words))
            assert len({x.id for x in cubes}) == 10
            got = await c.get(cubes[0].id)
            assert got.text == "carol likes apples"
            assert len([x async for x in c.list("acme", "carol", page_size=3)]) == 10
            hits = await c.search(tenant="acme", user="carol", query="glaciers", k=1, mode="LEXICAL")
            assert hits[0].cube.text == "carol likes glaciers"
            with pytest.raises(memmesh.InvalidArgument) as e:
                await c.put(tenant="", user="carol", text="x")
            assert e.value.field == "cube.scope.tenant"
            events = []
            start = await c.revision() + 1
            await c.update(cubes[1].id, "carol changed")
            async for ev in c.subscribe("acme", "carol", start_revision=start):
                events.append(ev)
                break
            assert (events[0].type, events[0].cube.id) == ("UPDATED", cubes[1].id)

    asyncio.run(main())


def status(addr: str) -> cluster_pb2.StatusResponse:
    from memmesh.v1 import cluster_pb2_grpc

    with grpc.insecure_channel(addr) as ch:
        r: cluster_pb2.StatusResponse = cluster_pb2_grpc.ClusterStub(ch).Status(cluster_pb2.StatusRequest(), timeout=2)
        return r


def test_subscribe_across_a_leader_kill_delivers_each_revision_once_in_order(nodes: List[Node], tmp_path: Path) -> None:
    first = start_node(nodes, tmp_path)
    for _ in range(2):
        start_node(nodes, tmp_path, join=first.addr)
    addrs = [n.addr for n in nodes]

    def voters() -> bool:
        s = status(first.addr)
        return sum(m.role == "voter" for m in s.members) == 3 and all(m.lag == 0 for m in s.members)

    wait_for(voters, what="three caught-up voters")
    leader = next(n for n in nodes if status(n.addr).role == "leader")
    # The subscriber starts on the leader, so killing it breaks the stream.
    order = [leader.addr] + [a for a in addrs if a != leader.addr]
    sub = memmesh.Client(order, retries=20)
    start = sub.revision() + 1
    seen: List[memmesh.Event] = []
    done = threading.Event()

    def follow() -> None:
        for ev in sub.subscribe("acme", "dave", start_revision=start):
            seen.append(ev)
            if ev.cube.text == "last":
                done.set()
                return

    t = threading.Thread(target=follow, daemon=True)
    t.start()
    writer = memmesh.Client([a for a in addrs if a != leader.addr], retries=40)
    acked = []
    for i in range(60):
        if i == 20:
            leader.kill9()
        acked.append(writer.put(tenant="acme", user="dave", text=f"dave {i}").id)
    acked.append(writer.put(tenant="acme", user="dave", text="last").id)
    assert done.wait(60), f"the subscriber saw {len(seen)} events"
    revisions = [e.revision for e in seen]
    assert revisions == sorted(revisions) and len(set(revisions)) == len(revisions), "each revision once, in order"
    assert [e.cube.id for e in seen if e.type == "CREATED"] == acked, "every acknowledged write, once, in order"


def test_mirror_follows_the_scope(nodes: List[Node], tmp_path: Path) -> None:
    n = start_node(nodes, tmp_path)
    c = memmesh.Client(n.addr)
    a = c.put(tenant="acme", user="erin", text="erin one")
    b = c.put(tenant="acme", user="erin", text="erin two")
    d = tmp_path / "mirror"
    m = c.sync("acme", str(d), user="erin")
    m.catch_up()
    assert sorted(os.listdir(d / "cubes")) == sorted([f"{a.id}.json", f"{b.id}.json"])
    c.update(a.id, "erin one, changed")
    last = c.purge(b.id)
    assert last == 1
    stop = c.put(tenant="acme", user="erin", text="erin three")
    m.follow(until_revision=stop.revision)
    assert sorted(os.listdir(d / "cubes")) == sorted([f"{a.id}.json", f"{stop.id}.json"])
    assert "erin one, changed" in (d / "cubes" / f"{a.id}.json").read_text()
    # A new mirror over the same directory resumes from the stored revision.
    assert memmesh.Mirror(c, memmesh.Scope("acme", "erin"), str(d)).revision == stop.revision


def test_committed_stubs_match_the_protos(tmp_path: Path) -> None:
    subprocess.run([str(ROOT / "scripts/gen-python-stubs.sh"), str(tmp_path)], check=True)
    ours = ROOT / "client/python/src/memmesh/v1"
    fresh = tmp_path / "memmesh/v1"
    names = sorted(p.name for p in fresh.iterdir())
    assert names == sorted(p.name for p in ours.iterdir() if p.name != "__pycache__")
    _, mismatch, errors = filecmp.cmpfiles(ours, fresh, names, shallow=False)
    assert not mismatch and not errors, f"regenerate with scripts/gen-python-stubs.sh: {mismatch + errors}"
