"""MemMesh's Python client.

>>> import memmesh
>>> c = memmesh.Client("127.0.0.1:7070", token=None)
>>> cube = c.put(tenant="acme", user="alice", text="prefers window seats")
>>> [h.cube.text for h in c.search(tenant="acme", user="alice", query="seat")]

:class:`Client` (blocking) and :class:`AsyncClient` (asyncio) speak the gRPC API through the
modules generated from ``proto/`` (``memmesh.v1``); failures raise :class:`MemMeshError`.
"""

from memmesh._conn import TLS
from memmesh.aio import AsyncClient
from memmesh.client import Client
from memmesh.errors import (
    Conflict,
    InvalidArgument,
    MemMeshError,
    NotFound,
    PermissionDenied,
    ResourceExhausted,
    Unauthenticated,
    Unavailable,
)
from memmesh.sync import Mirror
from memmesh.types import Cube, Event, Hit, Scope

__all__ = [
    "AsyncClient", "Client", "Conflict", "Cube", "Event", "Hit", "InvalidArgument", "MemMeshError", "Mirror",
    "NotFound", "PermissionDenied", "ResourceExhausted", "Scope", "TLS", "Unauthenticated", "Unavailable",
]
