"""A local mirror of one scope that follows the change feed, like ``memmesh sync``.

Layout of the directory: ``cubes/<id>.json`` (the proto3 JSON of each cube's current version)
and ``state.json`` (``{"scope": …, "revision": R}``: everything up to R is mirrored). First the
scope is listed (noting the first page's revision R), then the feed is followed from R + 1; a
file only ever moves forward in version, so events replayed after a list or a restart are
harmless. Every write is write-to-temp + rename: a crash never leaves a torn file.
"""

from __future__ import annotations

import json
import os
from typing import TYPE_CHECKING, Any, Dict, Optional

from google.protobuf import json_format

from memmesh import _requests as rq
from memmesh.types import Scope
from memmesh.v1 import cube_pb2

if TYPE_CHECKING:
    from memmesh.client import Client


def _write(path: str, text: str) -> None:
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


class Mirror:
    def __init__(self, client: "Client", scope: Scope, directory: str) -> None:
        self.client = client
        self.scope = scope
        self.dir = directory
        self.cubes = os.path.join(directory, "cubes")
        os.makedirs(self.cubes, exist_ok=True)
        self.revision = self._load_state()

    def _load_state(self) -> int:
        try:
            with open(os.path.join(self.dir, "state.json"), encoding="utf-8") as f:
                state: Dict[str, Any] = json.load(f)
        except FileNotFoundError:
            return 0
        if state.get("scope") != self.scope.__dict__:
            return 0
        return int(state.get("revision", 0))

    def _save_state(self, revision: int) -> None:
        self.revision = revision
        _write(os.path.join(self.dir, "state.json"), json.dumps({"scope": self.scope.__dict__, "revision": revision}))

    def _path(self, id: str) -> str:
        return os.path.join(self.cubes, f"{id}.json")

    def _apply(self, cube: cube_pb2.MemCube, purged: bool = False) -> None:
        path = self._path(cube.id)
        if purged:
            if os.path.exists(path):
                os.remove(path)
            return
        try:
            with open(path, encoding="utf-8") as f:
                if int(json.load(f).get("version", 0)) >= cube.version:
                    return
        except FileNotFoundError:
            pass
        _write(path, json_format.MessageToJson(cube, preserving_proto_field_name=True))

    def catch_up(self) -> int:
        """Lists the scope into the directory (when it holds no state yet); returns the revision
        the mirror is at."""
        if self.revision > 0:
            return self.revision
        scope = rq.scope_pb(self.scope.tenant, self.scope.user, self.scope.agent, self.scope.run)
        token, first, seen = "", 0, set()
        all_states = ("ACTIVE", "ARCHIVED", "DELETED", "EXPIRED")
        while True:
            r = self.client._call(lambda c: c._memory.List, rq.list_page(scope, 500, token, all_states))
            first = first or int(r.read_revision)
            for c in r.cubes:
                seen.add(c.id)
                self._apply(c)
            token = r.next_page_token
            if not token:
                break
        for name in os.listdir(self.cubes):
            if name.endswith(".json") and name[:-5] not in seen:
                os.remove(os.path.join(self.cubes, name))
        self._save_state(first)
        return first

    def follow(self, until_revision: Optional[int] = None) -> int:
        """Applies the feed's events (after :meth:`catch_up`) until one of ``until_revision`` or
        later was applied (forever without it); returns the mirror's revision."""
        start = self.catch_up() + 1
        s = self.scope
        current = 0
        for e in self.client.subscribe(s.tenant, s.user, s.agent, s.run, start_revision=start):
            if e.revision != current:
                if current:
                    self._save_state(current)  # every event of `current` is applied
                current = e.revision
            self._apply(e.raw.cube, purged=e.type == "PURGED")
            if until_revision is not None and e.revision >= until_revision:
                self._save_state(e.revision)
                return e.revision
        return self.revision
