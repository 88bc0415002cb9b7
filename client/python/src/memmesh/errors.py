"""Errors: every failed call raises :class:`MemMeshError` (or a subclass by gRPC code), carrying
the gRPC code, the server's message and — for INVALID_ARGUMENT — the request field it names."""

from __future__ import annotations

from typing import Optional

import grpc

#: Metadata key the node sets on INVALID_ARGUMENT: the request field at fault.
FIELD_METADATA = "x-memmesh-field"
#: Metadata key the node sets on UNAVAILABLE when it knows the leader: the leader's address.
LEADER_METADATA = "x-memmesh-leader"


class MemMeshError(Exception):
    """A call failed. ``code`` is the gRPC status code, ``field`` the request field the server
    named (INVALID_ARGUMENT only), ``leader`` the leader address the server hinted at."""

    def __init__(self, code: grpc.StatusCode, message: str, field: Optional[str] = None, leader: Optional[str] = None) -> None:
        super().__init__(f"{code.name}: {message}")
        self.code = code
        self.message = message
        self.field = field
        self.leader = leader


class InvalidArgument(MemMeshError):
    pass


class NotFound(MemMeshError):
    pass


class PermissionDenied(MemMeshError):
    pass


class Unauthenticated(MemMeshError):
    pass


class Conflict(MemMeshError):
    """ABORTED: an ``expected_version`` did not match."""


class ResourceExhausted(MemMeshError):
    """A quota, or the node's disk reserve."""


class Unavailable(MemMeshError):
    """No node could take the call (after the client's retries)."""


_BY_CODE = {
    grpc.StatusCode.INVALID_ARGUMENT: InvalidArgument,
    grpc.StatusCode.NOT_FOUND: NotFound,
    grpc.StatusCode.PERMISSION_DENIED: PermissionDenied,
    grpc.StatusCode.UNAUTHENTICATED: Unauthenticated,
    grpc.StatusCode.ABORTED: Conflict,
    grpc.StatusCode.RESOURCE_EXHAUSTED: ResourceExhausted,
    grpc.StatusCode.UNAVAILABLE: Unavailable,
}


def _metadata(md: object, key: str) -> Optional[str]:
    for item in md or ():  # type: ignore[attr-defined]
        k, v = item[0], item[1]
        if k == key:
            return v if isinstance(v, str) else bytes(v).decode()
    return None


def from_rpc_error(e: grpc.RpcError) -> MemMeshError:
    """The :class:`MemMeshError` for a failed call (sync or asyncio)."""
    code: grpc.StatusCode = e.code()
    details = e.details() or ""
    md = e.trailing_metadata()
    cls = _BY_CODE.get(code, MemMeshError)
    return cls(code, details, field=_metadata(md, FIELD_METADATA), leader=_metadata(md, LEADER_METADATA))
