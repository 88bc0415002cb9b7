"""Typed objects in and out of the client: :class:`Cube`, :class:`Hit`, :class:`Event`.

Enum values are their proto names without the type prefix (``"FACT"``, ``"ACTIVE"``, as
``memmesh --json`` prints them). Each object keeps the message it came from in ``raw``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

from memmesh.v1 import cube_pb2, memory_pb2, memstore_pb2


def enum_name(enum: object, prefix: str, value: int) -> str:
    """``MEMORY_TYPE_FACT`` -> ``FACT``; an unknown number as its digits."""
    try:
        name: str = enum.Name(value)  # type: ignore[attr-defined]
    except ValueError:
        return str(value)
    return name[len(prefix):] if name.startswith(prefix) else name


def enum_value(enum: object, prefix: str, name: str) -> Any:
    """``FACT`` (or ``MEMORY_TYPE_FACT``) -> its number (typed as the field's enum wants it);
    ValueError names the choices."""
    full = name if name.startswith(prefix) else prefix + name.upper()
    try:
        value: int = enum.Value(full)  # type: ignore[attr-defined]
    except ValueError:
        choices = [n[len(prefix):] for n in enum.keys() if not n.endswith("UNSPECIFIED")]  # type: ignore[attr-defined]
        raise ValueError(f"{name!r} is not one of {choices}") from None
    return value


@dataclass(frozen=True)
class Scope:
    tenant: str
    user: str = ""
    agent: str = ""
    run: str = ""

    def to_pb(self) -> cube_pb2.Scope:
        return cube_pb2.Scope(tenant=self.tenant, user=self.user, agent=self.agent, run=self.run)

    @staticmethod
    def from_pb(s: cube_pb2.Scope) -> "Scope":
        return Scope(s.tenant, s.user, s.agent, s.run)


@dataclass(frozen=True)
class Cube:
    """One version of a MemCube."""

    id: str
    scope: Scope
    text: str
    version: int
    revision: int
    memory_type: str
    state: str
    kind: str
    tags: List[str]
    attributes: Dict[str, str]
    importance: float
    created_at_ms: int
    updated_at_ms: int
    expires_at_ms: int
    pinned: bool
    raw: cube_pb2.MemCube = field(repr=False, compare=False)

    @staticmethod
    def from_pb(c: cube_pb2.MemCube) -> "Cube":
        return Cube(
            id=c.id,
            scope=Scope.from_pb(c.scope),
            text=c.content.text,
            version=c.version,
            revision=c.revision,
            memory_type=enum_name(cube_pb2.MemoryType, "MEMORY_TYPE_", c.memory_type),
            state=enum_name(cube_pb2.CubeState, "CUBE_STATE_", c.state),
            kind=enum_name(cube_pb2.CubeKind, "CUBE_KIND_", c.kind),
            tags=list(c.tags),
            attributes=dict(c.attributes),
            importance=c.importance,
            created_at_ms=c.created_at_ms,
            updated_at_ms=c.updated_at_ms,
            expires_at_ms=c.expires_at_ms,
            pinned=c.pinned,
            raw=c,
        )


@dataclass(frozen=True)
class Hit:
    """A search result: the cube, its fused score and the signals behind it."""

    cube: Cube
    score: float
    dense_score: Optional[float]
    lexical_score: Optional[float]
    raw: memory_pb2.SearchHit = field(repr=False, compare=False)

    @staticmethod
    def from_pb(h: memory_pb2.SearchHit) -> "Hit":
        return Hit(
            cube=Cube.from_pb(h.cube),
            score=h.score,
            dense_score=h.dense_score if h.HasField("dense_score") else None,
            lexical_score=h.lexical_score if h.HasField("lexical_score") else None,
            raw=h,
        )


@dataclass(frozen=True)
class Event:
    """One change on the feed: its revision, type (``CREATED``, ``UPDATED``, …) and the cube
    after the change."""

    revision: int
    type: str
    cube: Cube
    request_id: str
    raw: memstore_pb2.Event = field(repr=False, compare=False)

    @staticmethod
    def from_pb(revision: int, e: memstore_pb2.Event) -> "Event":
        return Event(revision, enum_name(memstore_pb2.EventType, "EVENT_TYPE_", e.type), Cube.from_pb(e.cube), e.request_id, e)
