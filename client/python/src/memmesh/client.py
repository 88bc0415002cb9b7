"""The synchronous client. See :class:`Client`."""

from __future__ import annotations

import time
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence, TypeVar, Union

import grpc

from memmesh import _requests as rq
from memmesh._conn import CHANNEL_OPTIONS, RETRYABLE, TLS, Targets, backoff, metadata
from memmesh.errors import MemMeshError, from_rpc_error
from memmesh.types import Cube, Event, Hit, Scope
from memmesh.v1 import admin_pb2, admin_pb2_grpc, cluster_pb2, cluster_pb2_grpc, memory_pb2, memory_pb2_grpc, memstore_pb2, memstore_pb2_grpc

T = TypeVar("T")


class Client:
    """A connection to a MemMesh cluster.

    ``addrs``: one ``host:port``, a comma-separated list, or a list — the client moves between
    them (and to the leader a node names) when a node is unavailable. ``token``: the API token.
    ``tls``: a :class:`memmesh.TLS` (plaintext without). ``retries``: attempts after the first
    on UNAVAILABLE. Use it as a context manager or call :meth:`close`.
    """

    def __init__(self, addrs: Union[str, Sequence[str]], token: Optional[str] = None, tls: Optional[TLS] = None, timeout: float = 30.0, retries: int = 8) -> None:
        self._targets = Targets(addrs)
        self._token = token
        self._tls = tls
        self._timeout = timeout
        self._retries = retries
        self._md = metadata(token)
        self._channel: Optional[grpc.Channel] = None
        self._connected_to = ""
        self._connect()

    # -- connection -------------------------------------------------------------------------

    def _connect(self) -> None:
        addr = self._targets.addr
        if self._channel is not None and self._connected_to == addr:
            return
        if self._channel is not None:
            self._channel.close()
        if self._tls is not None:
            self._channel = grpc.secure_channel(addr, self._tls.credentials(), options=CHANNEL_OPTIONS)
        else:
            self._channel = grpc.insecure_channel(addr, options=CHANNEL_OPTIONS)
        self._connected_to = addr
        self._memory = memory_pb2_grpc.MemoryStub(self._channel)
        self._memstore = memstore_pb2_grpc.MemStoreStub(self._channel)
        self._cluster = cluster_pb2_grpc.ClusterStub(self._channel)
        self._admin = admin_pb2_grpc.AdminStub(self._channel)

    def close(self) -> None:
        if self._channel is not None:
            self._channel.close()
            self._channel = None

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def addr(self) -> str:
        """The node the client calls now."""
        return self._targets.addr

    def _call(self, pick: Callable[["Client"], Callable[..., Any]], request: Any) -> Any:
        for attempt in range(self._retries + 1):
            try:
                return pick(self)(request, timeout=self._timeout, metadata=self._md)
            except grpc.RpcError as e:
                err = from_rpc_error(e)
                if err.code not in RETRYABLE or attempt == self._retries:
                    raise err from None
                self._targets.move(err.leader)
                self._connect()
                time.sleep(backoff(attempt))
        raise AssertionError("unreachable")

    # -- memory -----------------------------------------------------------------------------

    def put(self, tenant: str, user: str = "", agent: str = "", run: str = "", text: Optional[str] = None, *, request_id: Optional[str] = None, dedupe: Optional[str] = None, **fields: Any) -> Cube:
        """Writes a cube; returns it as stored (for a duplicate under ``dedupe``: the cube it
        merged into). Fields: see :func:`memmesh._requests.make_cube_input`."""
        r = self._call(lambda c: c._memory.Put, rq.put(tenant, user, agent, run, text, request_id, dedupe, fields))
        return Cube.from_pb(r.cube)

    def put_batch(self, cubes: Sequence[Dict[str, Any]], *, request_id: Optional[str] = None) -> List[Cube]:
        """Writes several cubes of one tenant in one entry; each dict holds ``tenant``, ``user``,
        ``agent``, ``run``, ``text`` and cube fields."""
        r = self._call(lambda c: c._memory.PutBatch, rq.put_batch(cubes, request_id))
        return [Cube.from_pb(c) for c in r.cubes]

    def get(self, id: str, version: int = 0, *, record_access: bool = False) -> Cube:
        r = self._call(lambda c: c._memory.Get, memory_pb2.GetRequest(id=id, version=version, record_access=record_access))
        return Cube.from_pb(r.cube)

    def update(self, id: str, text: Optional[str] = None, *, expected_version: int = 0, request_id: Optional[str] = None, **fields: Any) -> Cube:
        r = self._call(lambda c: c._memory.Update, rq.update(id, text, expected_version, request_id, fields))
        return Cube.from_pb(r.cube)

    def delete(self, id: str, *, expected_version: int = 0, request_id: Optional[str] = None) -> Cube:
        req = memory_pb2.DeleteRequest(id=id, expected_version=expected_version, request_id=request_id or rq.new_request_id())
        return Cube.from_pb(self._call(lambda c: c._memory.Delete, req).cube)

    def restore(self, id: str, *, expected_version: int = 0, ttl_seconds: Optional[int] = None, request_id: Optional[str] = None) -> Cube:
        req = memory_pb2.RestoreRequest(id=id, expected_version=expected_version, request_id=request_id or rq.new_request_id())
        if ttl_seconds is not None:
            req.ttl_seconds = ttl_seconds
        return Cube.from_pb(self._call(lambda c: c._memory.Restore, req).cube)

    def purge(self, id: Optional[str] = None, *, scope: Optional[rq.ScopeLike] = None, request_id: Optional[str] = None) -> int:
        """Hard-deletes one cube (``id``) or every cube of a scope; returns how many."""
        if (id is None) == (scope is None):
            raise TypeError("give exactly one of id and scope")
        req = memory_pb2.PurgeRequest(request_id=request_id or rq.new_request_id())
        if id is not None:
            req.id = id
        else:
            req.scope.CopyFrom(rq.to_scope(scope))  # type: ignore[arg-type]
        return int(self._call(lambda c: c._memory.Purge, req).purged)

    def list(self, tenant: str, user: str = "", agent: str = "", run: str = "", *, page_size: int = 100, states: Sequence[str] = ()) -> Iterator[Cube]:
        """Every cube of the scope, newest first, fetched a page at a time."""
        token = ""
        scope = rq.scope_pb(tenant, user, agent, run)
        while True:
            r = self._call(lambda c: c._memory.List, rq.list_page(scope, page_size, token, states))
            for cube in r.cubes:
                yield Cube.from_pb(cube)
            token = r.next_page_token
            if not token:
                return

    def history(self, id: str) -> List[Cube]:
        """Every version, oldest first."""
        return [Cube.from_pb(c) for c in self._call(lambda c: c._memory.History, memory_pb2.HistoryRequest(id=id)).versions]

    def rollback(self, id: str, to_version: int, *, expected_version: int = 0, request_id: Optional[str] = None) -> Cube:
        req = memory_pb2.RollbackRequest(id=id, to_version=to_version, expected_version=expected_version, request_id=request_id or rq.new_request_id())
        return Cube.from_pb(self._call(lambda c: c._memory.Rollback, req).cube)

    def search(self, tenant: str = "", user: str = "", agent: str = "", run: str = "", query: str = "", k: int = 10, *, scopes: Optional[Sequence[rq.ScopeLike]] = None, mode: Optional[str] = None, vector: Optional[Sequence[float]] = None) -> List[Hit]:
        """Hybrid (default), ``"DENSE"`` or ``"LEXICAL"`` search in a scope (or ``scopes``)."""
        r = self._call(lambda c: c._memory.Search, rq.search(tenant, user, agent, run, query, k, scopes, mode, vector))
        return [Hit.from_pb(h) for h in r.hits]

    # -- change feed ------------------------------------------------------------------------

    def revision(self) -> int:
        """The revision the node called has applied."""
        return int(self._call(lambda c: c._cluster.Status, cluster_pb2.StatusRequest()).applied_index)

    def subscribe(self, tenant: str, user: str = "", agent: str = "", run: str = "", *, start_revision: int = 0, event_types: Sequence[str] = ()) -> Iterator[Event]:
        """The scope's changes from ``start_revision`` (0 = from now) as they happen, across node
        failures: it reconnects (to the next node, or the leader named) and resumes after the
        last revision delivered, so each revision's events arrive once, in order. Ends only on
        an error retrying cannot fix (e.g. OUT_OF_RANGE: history compacted)."""
        scope = rq.scope_pb(tenant, user, agent, run)
        # "From now" is pinned to a revision first, so a reconnect before the first event
        # neither loses nor repeats anything.
        next_rev = start_revision if start_revision > 0 else self.revision() + 1
        attempt = 0
        while True:
            try:
                stream = self._memstore.Subscribe(rq.subscribe(scope, next_rev, event_types), metadata=self._md)
                for msg in stream:
                    attempt = 0
                    if msg.HasField("events"):
                        batch = msg.events
                        if batch.revision < next_rev:
                            continue  # a replay after reconnecting
                        next_rev = batch.revision + 1
                        for e in batch.events:
                            yield Event.from_pb(batch.revision, e)
                    elif msg.progress.revision + 1 > next_rev:
                        next_rev = msg.progress.revision + 1
                # The server ended the stream (e.g. shutting down): reconnect.
                err: Optional[MemMeshError] = None
            except grpc.RpcError as e:
                err = from_rpc_error(e)
                if err.code not in (*RETRYABLE, grpc.StatusCode.CANCELLED, grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN):
                    raise err from None
            self._targets.move(err.leader if err else None)
            self._connect()
            time.sleep(backoff(attempt))
            attempt = min(attempt + 1, 5)

    def sync(self, tenant: str, directory: str, user: str = "", agent: str = "", run: str = "") -> "Any":
        """A local mirror of the scope in ``directory`` (see :class:`memmesh.sync.Mirror`)."""
        from memmesh.sync import Mirror

        return Mirror(self, Scope(tenant, user, agent, run), directory)

    # -- administration ---------------------------------------------------------------------

    def create_token(self, tenant: str, user: str = "", agent: str = "", *, role: str = "WRITER", ttl_seconds: int = 0, description: str = "") -> admin_pb2.CreateTokenResponse:
        req = admin_pb2.CreateTokenRequest(principal=rq.principal(tenant, user, agent, role), ttl_seconds=ttl_seconds, description=description)
        r: admin_pb2.CreateTokenResponse = self._call(lambda c: c._admin.CreateToken, req)
        return r

    def list_tokens(self, tenant: str) -> List[admin_pb2.TokenInfo]:
        return list(self._call(lambda c: c._admin.ListTokens, admin_pb2.ListTokensRequest(tenant=tenant)).tokens)

    def revoke_token(self, id: str) -> int:
        return int(self._call(lambda c: c._admin.RevokeToken, admin_pb2.RevokeTokenRequest(id=id)).revision)

    def create_grant(self, scope: rq.ScopeLike, grantee_user: str, grantee_agent: str = "", *, access: str = "READ", ttl_seconds: int = 0) -> admin_pb2.Grant:
        s = rq.to_scope(scope)
        req = admin_pb2.CreateGrantRequest(
            scope=s,
            grantee=admin_pb2.Principal(tenant=s.tenant, user=grantee_user, agent=grantee_agent),
            access=rq.enum_value(admin_pb2.Access, "ACCESS_", access),
            ttl_seconds=ttl_seconds,
        )
        r: admin_pb2.Grant = self._call(lambda c: c._admin.CreateGrant, req)
        return r

    def list_grants(self, tenant: str) -> List[admin_pb2.Grant]:
        return list(self._call(lambda c: c._admin.ListGrants, admin_pb2.ListGrantsRequest(tenant=tenant)).grants)

    def revoke_grant(self, id: str) -> int:
        return int(self._call(lambda c: c._admin.RevokeGrant, admin_pb2.RevokeGrantRequest(id=id)).revision)

    def audit(self, tenant: str, *, limit: int = 100) -> Iterator[admin_pb2.AuditEntry]:
        """The tenant's audit log, oldest first."""
        token = ""
        while True:
            r = self._call(lambda c: c._admin.ListAudit, admin_pb2.ListAuditRequest(tenant=tenant, page_token=token, limit=limit))
            yield from r.entries
            token = r.next_page_token
            if not token or not r.entries:
                return
