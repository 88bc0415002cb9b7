"""The asyncio client: :class:`AsyncClient`, the same calls as :class:`memmesh.Client` as
coroutines (and async iterators for ``list`` and ``subscribe``)."""

from __future__ import annotations

import asyncio
from typing import Any, AsyncIterator, Callable, Dict, List, Optional, Sequence, Union

import grpc
import grpc.aio

from memmesh import _requests as rq
from memmesh._conn import CHANNEL_OPTIONS, RETRYABLE, TLS, Targets, backoff, metadata
from memmesh.errors import MemMeshError, from_rpc_error
from memmesh.types import Cube, Event, Hit
from memmesh.v1 import cluster_pb2, cluster_pb2_grpc, memory_pb2, memory_pb2_grpc, memstore_pb2_grpc


class AsyncClient:
    """See :class:`memmesh.Client` for the arguments; use ``async with`` or ``await close()``."""

    def __init__(self, addrs: Union[str, Sequence[str]], token: Optional[str] = None, tls: Optional[TLS] = None, timeout: float = 30.0, retries: int = 8) -> None:
        self._targets = Targets(addrs)
        self._tls = tls
        self._timeout = timeout
        self._retries = retries
        self._md = metadata(token)
        self._channel: Optional[grpc.aio.Channel] = None
        self._connected_to = ""

    async def _connect(self) -> None:
        addr = self._targets.addr
        if self._channel is not None and self._connected_to == addr:
            return
        if self._channel is not None:
            await self._channel.close()
        if self._tls is not None:
            self._channel = grpc.aio.secure_channel(addr, self._tls.credentials(), options=CHANNEL_OPTIONS)
        else:
            self._channel = grpc.aio.insecure_channel(addr, options=CHANNEL_OPTIONS)
        self._connected_to = addr
        self._memory = memory_pb2_grpc.MemoryStub(self._channel)
        self._memstore = memstore_pb2_grpc.MemStoreStub(self._channel)
        self._cluster = cluster_pb2_grpc.ClusterStub(self._channel)

    async def close(self) -> None:
        if self._channel is not None:
            await self._channel.close()
            self._channel = None

    async def __aenter__(self) -> "AsyncClient":
        await self._connect()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def _call(self, pick: Callable[["AsyncClient"], Callable[..., Any]], request: Any) -> Any:
        await self._connect()
        for attempt in range(self._retries + 1):
            try:
                return await pick(self)(request, timeout=self._timeout, metadata=self._md)
            except grpc.RpcError as e:
                err = from_rpc_error(e)
                if err.code not in RETRYABLE or attempt == self._retries:
                    raise err from None
                self._targets.move(err.leader)
                await self._connect()
                await asyncio.sleep(backoff(attempt))
        raise AssertionError("unreachable")

    async def put(self, tenant: str, user: str = "", agent: str = "", run: str = "", text: Optional[str] = None, *, request_id: Optional[str] = None, dedupe: Optional[str] = None, **fields: Any) -> Cube:
        r = await self._call(lambda c: c._memory.Put, rq.put(tenant, user, agent, run, text, request_id, dedupe, fields))
        return Cube.from_pb(r.cube)

    async def put_batch(self, cubes: Sequence[Dict[str, Any]], *, request_id: Optional[str] = None) -> List[Cube]:
        r = await self._call(lambda c: c._memory.PutBatch, rq.put_batch(cubes, request_id))
        return [Cube.from_pb(c) for c in r.cubes]

    async def get(self, id: str, version: int = 0, *, record_access: bool = False) -> Cube:
        r = await self._call(lambda c: c._memory.Get, memory_pb2.GetRequest(id=id, version=version, record_access=record_access))
        return Cube.from_pb(r.cube)

    async def update(self, id: str, text: Optional[str] = None, *, expected_version: int = 0, request_id: Optional[str] = None, **fields: Any) -> Cube:
        r = await self._call(lambda c: c._memory.Update, rq.update(id, text, expected_version, request_id, fields))
        return Cube.from_pb(r.cube)

    async def delete(self, id: str, *, expected_version: int = 0, request_id: Optional[str] = None) -> Cube:
        req = memory_pb2.DeleteRequest(id=id, expected_version=expected_version, request_id=request_id or rq.new_request_id())
        return Cube.from_pb((await self._call(lambda c: c._memory.Delete, req)).cube)

    async def restore(self, id: str, *, expected_version: int = 0, request_id: Optional[str] = None) -> Cube:
        req = memory_pb2.RestoreRequest(id=id, expected_version=expected_version, request_id=request_id or rq.new_request_id())
        return Cube.from_pb((await self._call(lambda c: c._memory.Restore, req)).cube)

    async def purge(self, id: str, *, request_id: Optional[str] = None) -> int:
        req = memory_pb2.PurgeRequest(id=id, request_id=request_id or rq.new_request_id())
        return int((await self._call(lambda c: c._memory.Purge, req)).purged)

    async def list(self, tenant: str, user: str = "", agent: str = "", run: str = "", *, page_size: int = 100, states: Sequence[str] = ()) -> AsyncIterator[Cube]:
        token = ""
        scope = rq.scope_pb(tenant, user, agent, run)
        while True:
            r = await self._call(lambda c: c._memory.List, rq.list_page(scope, page_size, token, states))
            for cube in r.cubes:
                yield Cube.from_pb(cube)
            token = r.next_page_token
            if not token:
                return

    async def history(self, id: str) -> List[Cube]:
        r = await self._call(lambda c: c._memory.History, memory_pb2.HistoryRequest(id=id))
        return [Cube.from_pb(c) for c in r.versions]

    async def rollback(self, id: str, to_version: int, *, expected_version: int = 0, request_id: Optional[str] = None) -> Cube:
        req = memory_pb2.RollbackRequest(id=id, to_version=to_version, expected_version=expected_version, request_id=request_id or rq.new_request_id())
        return Cube.from_pb((await self._call(lambda c: c._memory.Rollback, req)).cube)

    async def search(self, tenant: str = "", user: str = "", agent: str = "", run: str = "", query: str = "", k: int = 10, *, scopes: Optional[Sequence[rq.ScopeLike]] = None, mode: Optional[str] = None, vector: Optional[Sequence[float]] = None) -> List[Hit]:
        r = await self._call(lambda c: c._memory.Search, rq.search(tenant, user, agent, run, query, k, scopes, mode, vector))
        return [Hit.from_pb(h) for h in r.hits]

    async def revision(self) -> int:
        return int((await self._call(lambda c: c._cluster.Status, cluster_pb2.StatusRequest())).applied_index)

    async def subscribe(self, tenant: str, user: str = "", agent: str = "", run: str = "", *, start_revision: int = 0, event_types: Sequence[str] = ()) -> AsyncIterator[Event]:
        """As :meth:`memmesh.Client.subscribe`: each revision once, in order, across failures."""
        scope = rq.scope_pb(tenant, user, agent, run)
        next_rev = start_revision if start_revision > 0 else await self.revision() + 1
        attempt = 0
        while True:
            err: Optional[MemMeshError] = None
            try:
                await self._connect()
                stream = self._memstore.Subscribe(rq.subscribe(scope, next_rev, event_types), metadata=self._md)
                async for msg in stream:
                    attempt = 0
                    if msg.HasField("events"):
                        batch = msg.events
                        if batch.revision < next_rev:
                            continue
                        next_rev = batch.revision + 1
                        for e in batch.events:
                            yield Event.from_pb(batch.revision, e)
                    elif msg.progress.revision + 1 > next_rev:
                        next_rev = msg.progress.revision + 1
            except grpc.RpcError as e:
                err = from_rpc_error(e)
                if err.code not in (*RETRYABLE, grpc.StatusCode.CANCELLED, grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN):
                    raise err from None
            self._targets.move(err.leader if err else None)
            await self._connect()
            await asyncio.sleep(backoff(attempt))
            attempt = min(attempt + 1, 5)
