from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class CubeKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CUBE_KIND_UNSPECIFIED: _ClassVar[CubeKind]
    CUBE_KIND_PLAINTEXT: _ClassVar[CubeKind]
    CUBE_KIND_ACTIVATION: _ClassVar[CubeKind]
    CUBE_KIND_PARAMETRIC: _ClassVar[CubeKind]

class MemoryType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    MEMORY_TYPE_UNSPECIFIED: _ClassVar[MemoryType]
    MEMORY_TYPE_FACT: _ClassVar[MemoryType]
    MEMORY_TYPE_PREFERENCE: _ClassVar[MemoryType]
    MEMORY_TYPE_EPISODE: _ClassVar[MemoryType]
    MEMORY_TYPE_PROCEDURE: _ClassVar[MemoryType]
    MEMORY_TYPE_SUMMARY: _ClassVar[MemoryType]
    MEMORY_TYPE_PROMPT: _ClassVar[MemoryType]
    MEMORY_TYPE_PERSONA: _ClassVar[MemoryType]
    MEMORY_TYPE_OTHER: _ClassVar[MemoryType]

class Source(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SOURCE_UNSPECIFIED: _ClassVar[Source]
    SOURCE_USER: _ClassVar[Source]
    SOURCE_AGENT: _ClassVar[Source]
    SOURCE_INFERENCE: _ClassVar[Source]
    SOURCE_RETRIEVAL: _ClassVar[Source]
    SOURCE_IMPORT: _ClassVar[Source]
    SOURCE_TUNING: _ClassVar[Source]

class CubeState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CUBE_STATE_UNSPECIFIED: _ClassVar[CubeState]
    CUBE_STATE_ACTIVE: _ClassVar[CubeState]
    CUBE_STATE_ARCHIVED: _ClassVar[CubeState]
    CUBE_STATE_DELETED: _ClassVar[CubeState]
    CUBE_STATE_EXPIRED: _ClassVar[CubeState]

class LinkType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    LINK_TYPE_UNSPECIFIED: _ClassVar[LinkType]
    LINK_TYPE_SUPERSEDES: _ClassVar[LinkType]
    LINK_TYPE_SUPERSEDED_BY: _ClassVar[LinkType]
    LINK_TYPE_MERGED_INTO: _ClassVar[LinkType]
    LINK_TYPE_DERIVED_FROM: _ClassVar[LinkType]
    LINK_TYPE_RELATES_TO: _ClassVar[LinkType]
CUBE_KIND_UNSPECIFIED: CubeKind
CUBE_KIND_PLAINTEXT: CubeKind
CUBE_KIND_ACTIVATION: CubeKind
CUBE_KIND_PARAMETRIC: CubeKind
MEMORY_TYPE_UNSPECIFIED: MemoryType
MEMORY_TYPE_FACT: MemoryType
MEMORY_TYPE_PREFERENCE: MemoryType
MEMORY_TYPE_EPISODE: MemoryType
MEMORY_TYPE_PROCEDURE: MemoryType
MEMORY_TYPE_SUMMARY: MemoryType
MEMORY_TYPE_PROMPT: MemoryType
MEMORY_TYPE_PERSONA: MemoryType
MEMORY_TYPE_OTHER: MemoryType
SOURCE_UNSPECIFIED: Source
SOURCE_USER: Source
SOURCE_AGENT: Source
SOURCE_INFERENCE: Source
SOURCE_RETRIEVAL: Source
SOURCE_IMPORT: Source
SOURCE_TUNING: Source
CUBE_STATE_UNSPECIFIED: CubeState
CUBE_STATE_ACTIVE: CubeState
CUBE_STATE_ARCHIVED: CubeState
CUBE_STATE_DELETED: CubeState
CUBE_STATE_EXPIRED: CubeState
LINK_TYPE_UNSPECIFIED: LinkType
LINK_TYPE_SUPERSEDES: LinkType
LINK_TYPE_SUPERSEDED_BY: LinkType
LINK_TYPE_MERGED_INTO: LinkType
LINK_TYPE_DERIVED_FROM: LinkType
LINK_TYPE_RELATES_TO: LinkType

class Scope(_message.Message):
    __slots__ = ("tenant", "user", "agent", "run")
    TENANT_FIELD_NUMBER: _ClassVar[int]
    USER_FIELD_NUMBER: _ClassVar[int]
    AGENT_FIELD_NUMBER: _ClassVar[int]
    RUN_FIELD_NUMBER: _ClassVar[int]
    tenant: str
    user: str
    agent: str
    run: str
    def __init__(self, tenant: _Optional[str] = ..., user: _Optional[str] = ..., agent: _Optional[str] = ..., run: _Optional[str] = ...) -> None: ...

class Content(_message.Message):
    __slots__ = ("text", "data", "media_type")
    TEXT_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    MEDIA_TYPE_FIELD_NUMBER: _ClassVar[int]
    text: str
    data: bytes
    media_type: str
    def __init__(self, text: _Optional[str] = ..., data: _Optional[bytes] = ..., media_type: _Optional[str] = ...) -> None: ...

class Provenance(_message.Message):
    __slots__ = ("origin_agent", "request_id", "parents")
    ORIGIN_AGENT_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    PARENTS_FIELD_NUMBER: _ClassVar[int]
    origin_agent: str
    request_id: str
    parents: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, origin_agent: _Optional[str] = ..., request_id: _Optional[str] = ..., parents: _Optional[_Iterable[str]] = ...) -> None: ...

class Usage(_message.Message):
    __slots__ = ("access_count", "last_accessed_at_ms")
    ACCESS_COUNT_FIELD_NUMBER: _ClassVar[int]
    LAST_ACCESSED_AT_MS_FIELD_NUMBER: _ClassVar[int]
    access_count: int
    last_accessed_at_ms: int
    def __init__(self, access_count: _Optional[int] = ..., last_accessed_at_ms: _Optional[int] = ...) -> None: ...

class Embedding(_message.Message):
    __slots__ = ("vector", "model")
    VECTOR_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    vector: _containers.RepeatedScalarFieldContainer[float]
    model: str
    def __init__(self, vector: _Optional[_Iterable[float]] = ..., model: _Optional[str] = ...) -> None: ...

class MemCube(_message.Message):
    __slots__ = ("id", "scope", "kind", "content", "memory_type", "custom_type", "source", "provenance", "tags", "attributes", "importance", "ttl_seconds", "expires_at_ms", "created_at_ms", "updated_at_ms", "version", "revision", "state", "usage", "embedding", "context", "acl", "slot", "links", "pinned")
    class AttributesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    ID_FIELD_NUMBER: _ClassVar[int]
    SCOPE_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    CONTENT_FIELD_NUMBER: _ClassVar[int]
    MEMORY_TYPE_FIELD_NUMBER: _ClassVar[int]
    CUSTOM_TYPE_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    PROVENANCE_FIELD_NUMBER: _ClassVar[int]
    TAGS_FIELD_NUMBER: _ClassVar[int]
    ATTRIBUTES_FIELD_NUMBER: _ClassVar[int]
    IMPORTANCE_FIELD_NUMBER: _ClassVar[int]
    TTL_SECONDS_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_AT_MS_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_MS_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_MS_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    REVISION_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    USAGE_FIELD_NUMBER: _ClassVar[int]
    EMBEDDING_FIELD_NUMBER: _ClassVar[int]
    CONTEXT_FIELD_NUMBER: _ClassVar[int]
    ACL_FIELD_NUMBER: _ClassVar[int]
    SLOT_FIELD_NUMBER: _ClassVar[int]
    LINKS_FIELD_NUMBER: _ClassVar[int]
    PINNED_FIELD_NUMBER: _ClassVar[int]
    id: str
    scope: Scope
    kind: CubeKind
    content: Content
    memory_type: MemoryType
    custom_type: str
    source: Source
    provenance: Provenance
    tags: _containers.RepeatedScalarFieldContainer[str]
    attributes: _containers.ScalarMap[str, str]
    importance: float
    ttl_seconds: int
    expires_at_ms: int
    created_at_ms: int
    updated_at_ms: int
    version: int
    revision: int
    state: CubeState
    usage: Usage
    embedding: Embedding
    context: str
    acl: Acl
    slot: str
    links: _containers.RepeatedCompositeFieldContainer[Link]
    pinned: bool
    def __init__(self, id: _Optional[str] = ..., scope: _Optional[_Union[Scope, _Mapping]] = ..., kind: _Optional[_Union[CubeKind, str]] = ..., content: _Optional[_Union[Content, _Mapping]] = ..., memory_type: _Optional[_Union[MemoryType, str]] = ..., custom_type: _Optional[str] = ..., source: _Optional[_Union[Source, str]] = ..., provenance: _Optional[_Union[Provenance, _Mapping]] = ..., tags: _Optional[_Iterable[str]] = ..., attributes: _Optional[_Mapping[str, str]] = ..., importance: _Optional[float] = ..., ttl_seconds: _Optional[int] = ..., expires_at_ms: _Optional[int] = ..., created_at_ms: _Optional[int] = ..., updated_at_ms: _Optional[int] = ..., version: _Optional[int] = ..., revision: _Optional[int] = ..., state: _Optional[_Union[CubeState, str]] = ..., usage: _Optional[_Union[Usage, _Mapping]] = ..., embedding: _Optional[_Union[Embedding, _Mapping]] = ..., context: _Optional[str] = ..., acl: _Optional[_Union[Acl, _Mapping]] = ..., slot: _Optional[str] = ..., links: _Optional[_Iterable[_Union[Link, _Mapping]]] = ..., pinned: _Optional[bool] = ...) -> None: ...

class Link(_message.Message):
    __slots__ = ("type", "target_id")
    TYPE_FIELD_NUMBER: _ClassVar[int]
    TARGET_ID_FIELD_NUMBER: _ClassVar[int]
    type: LinkType
    target_id: str
    def __init__(self, type: _Optional[_Union[LinkType, str]] = ..., target_id: _Optional[str] = ...) -> None: ...

class IncomingLink(_message.Message):
    __slots__ = ("type", "source_id")
    TYPE_FIELD_NUMBER: _ClassVar[int]
    SOURCE_ID_FIELD_NUMBER: _ClassVar[int]
    type: LinkType
    source_id: str
    def __init__(self, type: _Optional[_Union[LinkType, str]] = ..., source_id: _Optional[str] = ...) -> None: ...

class AclEntry(_message.Message):
    __slots__ = ("user", "agent")
    USER_FIELD_NUMBER: _ClassVar[int]
    AGENT_FIELD_NUMBER: _ClassVar[int]
    user: str
    agent: str
    def __init__(self, user: _Optional[str] = ..., agent: _Optional[str] = ...) -> None: ...

class Acl(_message.Message):
    __slots__ = ("readers", "writers", "restricted")
    READERS_FIELD_NUMBER: _ClassVar[int]
    WRITERS_FIELD_NUMBER: _ClassVar[int]
    RESTRICTED_FIELD_NUMBER: _ClassVar[int]
    readers: _containers.RepeatedCompositeFieldContainer[AclEntry]
    writers: _containers.RepeatedCompositeFieldContainer[AclEntry]
    restricted: bool
    def __init__(self, readers: _Optional[_Iterable[_Union[AclEntry, _Mapping]]] = ..., writers: _Optional[_Iterable[_Union[AclEntry, _Mapping]]] = ..., restricted: _Optional[bool] = ...) -> None: ...
