"""Building requests from keyword arguments; shared by :class:`memmesh.Client` and
:class:`memmesh.AsyncClient` (which differ only in how they call)."""

from __future__ import annotations

import uuid
from typing import Any, Dict, Iterable, Mapping, Optional, Sequence, Union

from memmesh.types import Scope, enum_value

__all__ = ["enum_value"]
from memmesh.v1 import admin_pb2, cube_pb2, memory_pb2, memstore_pb2

ScopeLike = Union[Scope, Mapping[str, str], cube_pb2.Scope]


def new_request_id() -> str:
    """A fresh idempotency key: retries of one call reuse it, so the write happens once."""
    return uuid.uuid4().hex


def scope_pb(tenant: str, user: str = "", agent: str = "", run: str = "") -> cube_pb2.Scope:
    return cube_pb2.Scope(tenant=tenant, user=user, agent=agent, run=run)


def to_scope(s: ScopeLike) -> cube_pb2.Scope:
    if isinstance(s, cube_pb2.Scope):
        return s
    if isinstance(s, Scope):
        return s.to_pb()
    return cube_pb2.Scope(**dict(s))


def memory_type(name: Optional[str]) -> Any:
    return 0 if name is None else enum_value(cube_pb2.MemoryType, "MEMORY_TYPE_", name)


def make_cube_input(tenant: str, user: str, agent: str, run: str, text: Optional[str], fields: Dict[str, Any]) -> memory_pb2.CubeInput:
    """A ``CubeInput`` from the put keywords: ``text`` or ``data`` (+ ``media_type``, ``kind``),
    ``memory_type`` (``"FACT"``, ``"PREFERENCE"`` …), ``tags``, ``attributes``, ``importance``,
    ``ttl_seconds``, ``context``, ``slot``, ``pinned``, ``source``, ``vector`` (+ ``model``)."""
    known = {"data", "media_type", "kind", "memory_type", "tags", "attributes", "importance", "ttl_seconds", "context", "slot", "pinned", "source", "vector", "model"}
    unknown = set(fields) - known
    if unknown:
        raise TypeError(f"unknown cube fields: {sorted(unknown)} (known: {sorted(known)})")
    content = cube_pb2.Content(text=text or "", data=fields.get("data") or b"", media_type=fields.get("media_type", ""))
    c = memory_pb2.CubeInput(
        scope=scope_pb(tenant, user, agent, run),
        content=content,
        memory_type=memory_type(fields.get("memory_type")),
        tags=list(fields.get("tags", ())),
        attributes=dict(fields.get("attributes") or {}),
        importance=float(fields.get("importance", 0.0)),
        ttl_seconds=int(fields.get("ttl_seconds", 0)),
        context=fields.get("context", ""),
        slot=fields.get("slot", ""),
        pinned=bool(fields.get("pinned", False)),
    )
    if fields.get("kind") is not None:
        c.kind = enum_value(cube_pb2.CubeKind, "CUBE_KIND_", fields["kind"])
    if fields.get("source") is not None:
        c.source = enum_value(cube_pb2.Source, "SOURCE_", fields["source"])
    if fields.get("vector") is not None:
        c.embedding.CopyFrom(cube_pb2.Embedding(vector=list(fields["vector"]), model=fields.get("model", "")))
    return c


def put(tenant: str, user: str, agent: str, run: str, text: Optional[str], request_id: Optional[str], dedupe: Optional[str], fields: Dict[str, Any]) -> memory_pb2.PutRequest:
    req = memory_pb2.PutRequest(cube=make_cube_input(tenant, user, agent, run, text, fields), request_id=request_id or new_request_id())
    if dedupe is not None:
        req.dedupe = enum_value(memory_pb2.DedupeMode, "DEDUPE_MODE_", dedupe)
    return req


def put_batch(cubes: Sequence[Mapping[str, Any]], request_id: Optional[str]) -> memory_pb2.PutBatchRequest:
    """A batch from dicts holding ``tenant``, ``user``, ``agent``, ``run``, ``text`` and cube fields."""
    inputs = []
    for given in cubes:
        c = dict(given)
        scope = [c.pop(k, "") for k in ("tenant", "user", "agent", "run")]
        inputs.append(make_cube_input(scope[0], scope[1], scope[2], scope[3], c.pop("text", None), c))
    return memory_pb2.PutBatchRequest(cubes=inputs, request_id=request_id or new_request_id())


def update(id: str, text: Optional[str], expected_version: int, request_id: Optional[str], fields: Dict[str, Any]) -> memory_pb2.UpdateRequest:
    known = {"memory_type", "add_tags", "remove_tags", "set_attributes", "remove_attributes", "importance", "ttl_seconds", "context", "pinned"}
    unknown = set(fields) - known
    if unknown:
        raise TypeError(f"unknown update fields: {sorted(unknown)} (known: {sorted(known)})")
    req = memory_pb2.UpdateRequest(id=id, expected_version=expected_version, request_id=request_id or new_request_id())
    if text is not None:
        req.content.CopyFrom(cube_pb2.Content(text=text))
    if "memory_type" in fields:
        req.memory_type = memory_type(fields["memory_type"])
    req.add_tags.extend(fields.get("add_tags", ()))
    req.remove_tags.extend(fields.get("remove_tags", ()))
    req.set_attributes.update(fields.get("set_attributes", {}))
    req.remove_attributes.extend(fields.get("remove_attributes", ()))
    for k in ("importance", "ttl_seconds", "context", "pinned"):
        if k in fields:
            setattr(req, k, fields[k])
    return req


def search(tenant: str, user: str, agent: str, run: str, query: str, k: int, scopes: Optional[Sequence[ScopeLike]], mode: Optional[str], vector: Optional[Sequence[float]]) -> memory_pb2.SearchRequest:
    req = memory_pb2.SearchRequest(query=query, k=k)
    if scopes:
        req.scopes.extend(to_scope(s) for s in scopes)
    else:
        req.scope.CopyFrom(scope_pb(tenant, user, agent, run))
    if mode is not None:
        req.mode = enum_value(memory_pb2.SearchMode, "SEARCH_MODE_", mode)
    if vector is not None:
        req.vector.extend(vector)
    return req


def list_page(scope: cube_pb2.Scope, page_size: int, page_token: str, states: Sequence[str]) -> memory_pb2.ListRequest:
    req = memory_pb2.ListRequest(scope=scope, page_size=page_size, page_token=page_token)
    req.states.extend(enum_value(cube_pb2.CubeState, "CUBE_STATE_", s) for s in states)
    return req


def subscribe(scope: cube_pb2.Scope, start_revision: int, event_types: Sequence[str]) -> memstore_pb2.SubscribeRequest:
    req = memstore_pb2.SubscribeRequest(scope=scope, start_revision=start_revision, progress_notify_ms=1000)
    req.event_types.extend(enum_value(memstore_pb2.EventType, "EVENT_TYPE_", t) for t in event_types)
    return req


def principal(tenant: str, user: str, agent: str, role: str) -> admin_pb2.Principal:
    return admin_pb2.Principal(tenant=tenant, user=user, agent=agent, role=enum_value(admin_pb2.Role, "ROLE_", role))
