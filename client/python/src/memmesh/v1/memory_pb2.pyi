from memmesh.v1 import cube_pb2 as _cube_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class DedupeMode(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    DEDUPE_MODE_UNSPECIFIED: _ClassVar[DedupeMode]
    DEDUPE_MODE_NONE: _ClassVar[DedupeMode]
    DEDUPE_MODE_EXACT: _ClassVar[DedupeMode]
    DEDUPE_MODE_SEMANTIC: _ClassVar[DedupeMode]

class PutOutcome(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    PUT_OUTCOME_UNSPECIFIED: _ClassVar[PutOutcome]
    PUT_OUTCOME_CREATED: _ClassVar[PutOutcome]
    PUT_OUTCOME_UNCHANGED: _ClassVar[PutOutcome]
    PUT_OUTCOME_MERGED: _ClassVar[PutOutcome]

class ReadConsistency(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    READ_CONSISTENCY_UNSPECIFIED: _ClassVar[ReadConsistency]
    READ_CONSISTENCY_LINEARIZABLE: _ClassVar[ReadConsistency]
    READ_CONSISTENCY_SERIALIZABLE: _ClassVar[ReadConsistency]

class ListOrder(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    LIST_ORDER_UNSPECIFIED: _ClassVar[ListOrder]
    LIST_ORDER_NEWEST_FIRST: _ClassVar[ListOrder]
    LIST_ORDER_OLDEST_FIRST: _ClassVar[ListOrder]

class SearchMode(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SEARCH_MODE_UNSPECIFIED: _ClassVar[SearchMode]
    SEARCH_MODE_DENSE: _ClassVar[SearchMode]
    SEARCH_MODE_LEXICAL: _ClassVar[SearchMode]
    SEARCH_MODE_HYBRID: _ClassVar[SearchMode]

class Fusion(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    FUSION_UNSPECIFIED: _ClassVar[Fusion]
    FUSION_CONVEX: _ClassVar[Fusion]
    FUSION_RRF: _ClassVar[Fusion]
DEDUPE_MODE_UNSPECIFIED: DedupeMode
DEDUPE_MODE_NONE: DedupeMode
DEDUPE_MODE_EXACT: DedupeMode
DEDUPE_MODE_SEMANTIC: DedupeMode
PUT_OUTCOME_UNSPECIFIED: PutOutcome
PUT_OUTCOME_CREATED: PutOutcome
PUT_OUTCOME_UNCHANGED: PutOutcome
PUT_OUTCOME_MERGED: PutOutcome
READ_CONSISTENCY_UNSPECIFIED: ReadConsistency
READ_CONSISTENCY_LINEARIZABLE: ReadConsistency
READ_CONSISTENCY_SERIALIZABLE: ReadConsistency
LIST_ORDER_UNSPECIFIED: ListOrder
LIST_ORDER_NEWEST_FIRST: ListOrder
LIST_ORDER_OLDEST_FIRST: ListOrder
SEARCH_MODE_UNSPECIFIED: SearchMode
SEARCH_MODE_DENSE: SearchMode
SEARCH_MODE_LEXICAL: SearchMode
SEARCH_MODE_HYBRID: SearchMode
FUSION_UNSPECIFIED: Fusion
FUSION_CONVEX: Fusion
FUSION_RRF: Fusion

class CubeInput(_message.Message):
    __slots__ = ("scope", "kind", "content", "memory_type", "custom_type", "source", "provenance", "tags", "attributes", "importance", "ttl_seconds", "embedding", "context", "acl", "slot", "links", "pinned")
    class AttributesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
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
    EMBEDDING_FIELD_NUMBER: _ClassVar[int]
    CONTEXT_FIELD_NUMBER: _ClassVar[int]
    ACL_FIELD_NUMBER: _ClassVar[int]
    SLOT_FIELD_NUMBER: _ClassVar[int]
    LINKS_FIELD_NUMBER: _ClassVar[int]
    PINNED_FIELD_NUMBER: _ClassVar[int]
    scope: _cube_pb2.Scope
    kind: _cube_pb2.CubeKind
    content: _cube_pb2.Content
    memory_type: _cube_pb2.MemoryType
    custom_type: str
    source: _cube_pb2.Source
    provenance: _cube_pb2.Provenance
    tags: _containers.RepeatedScalarFieldContainer[str]
    attributes: _containers.ScalarMap[str, str]
    importance: float
    ttl_seconds: int
    embedding: _cube_pb2.Embedding
    context: str
    acl: _cube_pb2.Acl
    slot: str
    links: _containers.RepeatedCompositeFieldContainer[_cube_pb2.Link]
    pinned: bool
    def __init__(self, scope: _Optional[_Union[_cube_pb2.Scope, _Mapping]] = ..., kind: _Optional[_Union[_cube_pb2.CubeKind, str]] = ..., content: _Optional[_Union[_cube_pb2.Content, _Mapping]] = ..., memory_type: _Optional[_Union[_cube_pb2.MemoryType, str]] = ..., custom_type: _Optional[str] = ..., source: _Optional[_Union[_cube_pb2.Source, str]] = ..., provenance: _Optional[_Union[_cube_pb2.Provenance, _Mapping]] = ..., tags: _Optional[_Iterable[str]] = ..., attributes: _Optional[_Mapping[str, str]] = ..., importance: _Optional[float] = ..., ttl_seconds: _Optional[int] = ..., embedding: _Optional[_Union[_cube_pb2.Embedding, _Mapping]] = ..., context: _Optional[str] = ..., acl: _Optional[_Union[_cube_pb2.Acl, _Mapping]] = ..., slot: _Optional[str] = ..., links: _Optional[_Iterable[_Union[_cube_pb2.Link, _Mapping]]] = ..., pinned: _Optional[bool] = ...) -> None: ...

class PutRequest(_message.Message):
    __slots__ = ("cube", "request_id", "dedupe", "dedupe_threshold", "related_threshold")
    CUBE_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    DEDUPE_FIELD_NUMBER: _ClassVar[int]
    DEDUPE_THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    RELATED_THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    cube: CubeInput
    request_id: str
    dedupe: DedupeMode
    dedupe_threshold: float
    related_threshold: float
    def __init__(self, cube: _Optional[_Union[CubeInput, _Mapping]] = ..., request_id: _Optional[str] = ..., dedupe: _Optional[_Union[DedupeMode, str]] = ..., dedupe_threshold: _Optional[float] = ..., related_threshold: _Optional[float] = ...) -> None: ...

class PutResult(_message.Message):
    __slots__ = ("outcome", "target_id", "similarity", "superseded_ids", "related")
    OUTCOME_FIELD_NUMBER: _ClassVar[int]
    TARGET_ID_FIELD_NUMBER: _ClassVar[int]
    SIMILARITY_FIELD_NUMBER: _ClassVar[int]
    SUPERSEDED_IDS_FIELD_NUMBER: _ClassVar[int]
    RELATED_FIELD_NUMBER: _ClassVar[int]
    outcome: PutOutcome
    target_id: str
    similarity: float
    superseded_ids: _containers.RepeatedScalarFieldContainer[str]
    related: _containers.RepeatedCompositeFieldContainer[Related]
    def __init__(self, outcome: _Optional[_Union[PutOutcome, str]] = ..., target_id: _Optional[str] = ..., similarity: _Optional[float] = ..., superseded_ids: _Optional[_Iterable[str]] = ..., related: _Optional[_Iterable[_Union[Related, _Mapping]]] = ...) -> None: ...

class Related(_message.Message):
    __slots__ = ("id", "similarity")
    ID_FIELD_NUMBER: _ClassVar[int]
    SIMILARITY_FIELD_NUMBER: _ClassVar[int]
    id: str
    similarity: float
    def __init__(self, id: _Optional[str] = ..., similarity: _Optional[float] = ...) -> None: ...

class WriteResponse(_message.Message):
    __slots__ = ("cube", "revision", "deduplicated", "result")
    CUBE_FIELD_NUMBER: _ClassVar[int]
    REVISION_FIELD_NUMBER: _ClassVar[int]
    DEDUPLICATED_FIELD_NUMBER: _ClassVar[int]
    RESULT_FIELD_NUMBER: _ClassVar[int]
    cube: _cube_pb2.MemCube
    revision: int
    deduplicated: bool
    result: PutResult
    def __init__(self, cube: _Optional[_Union[_cube_pb2.MemCube, _Mapping]] = ..., revision: _Optional[int] = ..., deduplicated: _Optional[bool] = ..., result: _Optional[_Union[PutResult, _Mapping]] = ...) -> None: ...

class PutBatchRequest(_message.Message):
    __slots__ = ("cubes", "request_id", "dedupe", "dedupe_threshold", "related_threshold")
    CUBES_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    DEDUPE_FIELD_NUMBER: _ClassVar[int]
    DEDUPE_THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    RELATED_THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    cubes: _containers.RepeatedCompositeFieldContainer[CubeInput]
    request_id: str
    dedupe: DedupeMode
    dedupe_threshold: float
    related_threshold: float
    def __init__(self, cubes: _Optional[_Iterable[_Union[CubeInput, _Mapping]]] = ..., request_id: _Optional[str] = ..., dedupe: _Optional[_Union[DedupeMode, str]] = ..., dedupe_threshold: _Optional[float] = ..., related_threshold: _Optional[float] = ...) -> None: ...

class PutBatchResponse(_message.Message):
    __slots__ = ("cubes", "revision", "deduplicated", "results")
    CUBES_FIELD_NUMBER: _ClassVar[int]
    REVISION_FIELD_NUMBER: _ClassVar[int]
    DEDUPLICATED_FIELD_NUMBER: _ClassVar[int]
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    cubes: _containers.RepeatedCompositeFieldContainer[_cube_pb2.MemCube]
    revision: int
    deduplicated: bool
    results: _containers.RepeatedCompositeFieldContainer[PutResult]
    def __init__(self, cubes: _Optional[_Iterable[_Union[_cube_pb2.MemCube, _Mapping]]] = ..., revision: _Optional[int] = ..., deduplicated: _Optional[bool] = ..., results: _Optional[_Iterable[_Union[PutResult, _Mapping]]] = ...) -> None: ...

class ReadOptions(_message.Message):
    __slots__ = ("consistency", "min_revision")
    CONSISTENCY_FIELD_NUMBER: _ClassVar[int]
    MIN_REVISION_FIELD_NUMBER: _ClassVar[int]
    consistency: ReadConsistency
    min_revision: int
    def __init__(self, consistency: _Optional[_Union[ReadConsistency, str]] = ..., min_revision: _Optional[int] = ...) -> None: ...

class GetRequest(_message.Message):
    __slots__ = ("id", "version", "as_of_revision", "record_access", "read")
    ID_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    AS_OF_REVISION_FIELD_NUMBER: _ClassVar[int]
    RECORD_ACCESS_FIELD_NUMBER: _ClassVar[int]
    READ_FIELD_NUMBER: _ClassVar[int]
    id: str
    version: int
    as_of_revision: int
    record_access: bool
    read: ReadOptions
    def __init__(self, id: _Optional[str] = ..., version: _Optional[int] = ..., as_of_revision: _Optional[int] = ..., record_access: _Optional[bool] = ..., read: _Optional[_Union[ReadOptions, _Mapping]] = ...) -> None: ...

class GetResponse(_message.Message):
    __slots__ = ("cube", "read_revision", "incoming")
    CUBE_FIELD_NUMBER: _ClassVar[int]
    READ_REVISION_FIELD_NUMBER: _ClassVar[int]
    INCOMING_FIELD_NUMBER: _ClassVar[int]
    cube: _cube_pb2.MemCube
    read_revision: int
    incoming: _containers.RepeatedCompositeFieldContainer[_cube_pb2.IncomingLink]
    def __init__(self, cube: _Optional[_Union[_cube_pb2.MemCube, _Mapping]] = ..., read_revision: _Optional[int] = ..., incoming: _Optional[_Iterable[_Union[_cube_pb2.IncomingLink, _Mapping]]] = ...) -> None: ...

class UpdateRequest(_message.Message):
    __slots__ = ("id", "expected_version", "request_id", "content", "memory_type", "custom_type", "importance", "ttl_seconds", "state", "add_tags", "remove_tags", "set_attributes", "remove_attributes", "context", "acl", "pinned")
    class SetAttributesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    ID_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_VERSION_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    CONTENT_FIELD_NUMBER: _ClassVar[int]
    MEMORY_TYPE_FIELD_NUMBER: _ClassVar[int]
    CUSTOM_TYPE_FIELD_NUMBER: _ClassVar[int]
    IMPORTANCE_FIELD_NUMBER: _ClassVar[int]
    TTL_SECONDS_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    ADD_TAGS_FIELD_NUMBER: _ClassVar[int]
    REMOVE_TAGS_FIELD_NUMBER: _ClassVar[int]
    SET_ATTRIBUTES_FIELD_NUMBER: _ClassVar[int]
    REMOVE_ATTRIBUTES_FIELD_NUMBER: _ClassVar[int]
    CONTEXT_FIELD_NUMBER: _ClassVar[int]
    ACL_FIELD_NUMBER: _ClassVar[int]
    PINNED_FIELD_NUMBER: _ClassVar[int]
    id: str
    expected_version: int
    request_id: str
    content: _cube_pb2.Content
    memory_type: _cube_pb2.MemoryType
    custom_type: str
    importance: float
    ttl_seconds: int
    state: _cube_pb2.CubeState
    add_tags: _containers.RepeatedScalarFieldContainer[str]
    remove_tags: _containers.RepeatedScalarFieldContainer[str]
    set_attributes: _containers.ScalarMap[str, str]
    remove_attributes: _containers.RepeatedScalarFieldContainer[str]
    context: str
    acl: _cube_pb2.Acl
    pinned: bool
    def __init__(self, id: _Optional[str] = ..., expected_version: _Optional[int] = ..., request_id: _Optional[str] = ..., content: _Optional[_Union[_cube_pb2.Content, _Mapping]] = ..., memory_type: _Optional[_Union[_cube_pb2.MemoryType, str]] = ..., custom_type: _Optional[str] = ..., importance: _Optional[float] = ..., ttl_seconds: _Optional[int] = ..., state: _Optional[_Union[_cube_pb2.CubeState, str]] = ..., add_tags: _Optional[_Iterable[str]] = ..., remove_tags: _Optional[_Iterable[str]] = ..., set_attributes: _Optional[_Mapping[str, str]] = ..., remove_attributes: _Optional[_Iterable[str]] = ..., context: _Optional[str] = ..., acl: _Optional[_Union[_cube_pb2.Acl, _Mapping]] = ..., pinned: _Optional[bool] = ...) -> None: ...

class DeleteRequest(_message.Message):
    __slots__ = ("id", "expected_version", "request_id")
    ID_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_VERSION_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    expected_version: int
    request_id: str
    def __init__(self, id: _Optional[str] = ..., expected_version: _Optional[int] = ..., request_id: _Optional[str] = ...) -> None: ...

class RestoreRequest(_message.Message):
    __slots__ = ("id", "expected_version", "request_id", "ttl_seconds")
    ID_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_VERSION_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    TTL_SECONDS_FIELD_NUMBER: _ClassVar[int]
    id: str
    expected_version: int
    request_id: str
    ttl_seconds: int
    def __init__(self, id: _Optional[str] = ..., expected_version: _Optional[int] = ..., request_id: _Optional[str] = ..., ttl_seconds: _Optional[int] = ...) -> None: ...

class PurgeRequest(_message.Message):
    __slots__ = ("id", "scope", "request_id")
    ID_FIELD_NUMBER: _ClassVar[int]
    SCOPE_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    scope: _cube_pb2.Scope
    request_id: str
    def __init__(self, id: _Optional[str] = ..., scope: _Optional[_Union[_cube_pb2.Scope, _Mapping]] = ..., request_id: _Optional[str] = ...) -> None: ...

class PurgeResponse(_message.Message):
    __slots__ = ("purged", "revision", "deduplicated")
    PURGED_FIELD_NUMBER: _ClassVar[int]
    REVISION_FIELD_NUMBER: _ClassVar[int]
    DEDUPLICATED_FIELD_NUMBER: _ClassVar[int]
    purged: int
    revision: int
    deduplicated: bool
    def __init__(self, purged: _Optional[int] = ..., revision: _Optional[int] = ..., deduplicated: _Optional[bool] = ...) -> None: ...

class ListRequest(_message.Message):
    __slots__ = ("scope", "memory_types", "tags", "states", "created_after_ms", "created_before_ms", "updated_after_ms", "updated_before_ms", "order", "page_size", "page_token", "read")
    SCOPE_FIELD_NUMBER: _ClassVar[int]
    MEMORY_TYPES_FIELD_NUMBER: _ClassVar[int]
    TAGS_FIELD_NUMBER: _ClassVar[int]
    STATES_FIELD_NUMBER: _ClassVar[int]
    CREATED_AFTER_MS_FIELD_NUMBER: _ClassVar[int]
    CREATED_BEFORE_MS_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AFTER_MS_FIELD_NUMBER: _ClassVar[int]
    UPDATED_BEFORE_MS_FIELD_NUMBER: _ClassVar[int]
    ORDER_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    READ_FIELD_NUMBER: _ClassVar[int]
    scope: _cube_pb2.Scope
    memory_types: _containers.RepeatedScalarFieldContainer[_cube_pb2.MemoryType]
    tags: _containers.RepeatedScalarFieldContainer[str]
    states: _containers.RepeatedScalarFieldContainer[_cube_pb2.CubeState]
    created_after_ms: int
    created_before_ms: int
    updated_after_ms: int
    updated_before_ms: int
    order: ListOrder
    page_size: int
    page_token: str
    read: ReadOptions
    def __init__(self, scope: _Optional[_Union[_cube_pb2.Scope, _Mapping]] = ..., memory_types: _Optional[_Iterable[_Union[_cube_pb2.MemoryType, str]]] = ..., tags: _Optional[_Iterable[str]] = ..., states: _Optional[_Iterable[_Union[_cube_pb2.CubeState, str]]] = ..., created_after_ms: _Optional[int] = ..., created_before_ms: _Optional[int] = ..., updated_after_ms: _Optional[int] = ..., updated_before_ms: _Optional[int] = ..., order: _Optional[_Union[ListOrder, str]] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., read: _Optional[_Union[ReadOptions, _Mapping]] = ...) -> None: ...

class ListResponse(_message.Message):
    __slots__ = ("cubes", "next_page_token", "read_revision")
    CUBES_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    READ_REVISION_FIELD_NUMBER: _ClassVar[int]
    cubes: _containers.RepeatedCompositeFieldContainer[_cube_pb2.MemCube]
    next_page_token: str
    read_revision: int
    def __init__(self, cubes: _Optional[_Iterable[_Union[_cube_pb2.MemCube, _Mapping]]] = ..., next_page_token: _Optional[str] = ..., read_revision: _Optional[int] = ...) -> None: ...

class HistoryRequest(_message.Message):
    __slots__ = ("id", "read")
    ID_FIELD_NUMBER: _ClassVar[int]
    READ_FIELD_NUMBER: _ClassVar[int]
    id: str
    read: ReadOptions
    def __init__(self, id: _Optional[str] = ..., read: _Optional[_Union[ReadOptions, _Mapping]] = ...) -> None: ...

class HistoryResponse(_message.Message):
    __slots__ = ("versions",)
    VERSIONS_FIELD_NUMBER: _ClassVar[int]
    versions: _containers.RepeatedCompositeFieldContainer[_cube_pb2.MemCube]
    def __init__(self, versions: _Optional[_Iterable[_Union[_cube_pb2.MemCube, _Mapping]]] = ...) -> None: ...

class RollbackRequest(_message.Message):
    __slots__ = ("id", "to_version", "expected_version", "request_id")
    ID_FIELD_NUMBER: _ClassVar[int]
    TO_VERSION_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_VERSION_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    to_version: int
    expected_version: int
    request_id: str
    def __init__(self, id: _Optional[str] = ..., to_version: _Optional[int] = ..., expected_version: _Optional[int] = ..., request_id: _Optional[str] = ...) -> None: ...

class SearchRequest(_message.Message):
    __slots__ = ("query", "vector", "scope", "scopes", "memory_types", "tags", "states", "sources", "created_after_ms", "created_before_ms", "updated_after_ms", "updated_before_ms", "attributes", "k", "mode", "read", "fusion", "dense_weight", "expand_links", "strength_weight", "adapter")
    class AttributesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    QUERY_FIELD_NUMBER: _ClassVar[int]
    VECTOR_FIELD_NUMBER: _ClassVar[int]
    SCOPE_FIELD_NUMBER: _ClassVar[int]
    SCOPES_FIELD_NUMBER: _ClassVar[int]
    MEMORY_TYPES_FIELD_NUMBER: _ClassVar[int]
    TAGS_FIELD_NUMBER: _ClassVar[int]
    STATES_FIELD_NUMBER: _ClassVar[int]
    SOURCES_FIELD_NUMBER: _ClassVar[int]
    CREATED_AFTER_MS_FIELD_NUMBER: _ClassVar[int]
    CREATED_BEFORE_MS_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AFTER_MS_FIELD_NUMBER: _ClassVar[int]
    UPDATED_BEFORE_MS_FIELD_NUMBER: _ClassVar[int]
    ATTRIBUTES_FIELD_NUMBER: _ClassVar[int]
    K_FIELD_NUMBER: _ClassVar[int]
    MODE_FIELD_NUMBER: _ClassVar[int]
    READ_FIELD_NUMBER: _ClassVar[int]
    FUSION_FIELD_NUMBER: _ClassVar[int]
    DENSE_WEIGHT_FIELD_NUMBER: _ClassVar[int]
    EXPAND_LINKS_FIELD_NUMBER: _ClassVar[int]
    STRENGTH_WEIGHT_FIELD_NUMBER: _ClassVar[int]
    ADAPTER_FIELD_NUMBER: _ClassVar[int]
    query: str
    vector: _containers.RepeatedScalarFieldContainer[float]
    scope: _cube_pb2.Scope
    scopes: _containers.RepeatedCompositeFieldContainer[_cube_pb2.Scope]
    memory_types: _containers.RepeatedScalarFieldContainer[_cube_pb2.MemoryType]
    tags: _containers.RepeatedScalarFieldContainer[str]
    states: _containers.RepeatedScalarFieldContainer[_cube_pb2.CubeState]
    sources: _containers.RepeatedScalarFieldContainer[_cube_pb2.Source]
    created_after_ms: int
    created_before_ms: int
    updated_after_ms: int
    updated_before_ms: int
    attributes: _containers.ScalarMap[str, str]
    k: int
    mode: SearchMode
    read: ReadOptions
    fusion: Fusion
    dense_weight: float
    expand_links: bool
    strength_weight: float
    adapter: str
    def __init__(self, query: _Optional[str] = ..., vector: _Optional[_Iterable[float]] = ..., scope: _Optional[_Union[_cube_pb2.Scope, _Mapping]] = ..., scopes: _Optional[_Iterable[_Union[_cube_pb2.Scope, _Mapping]]] = ..., memory_types: _Optional[_Iterable[_Union[_cube_pb2.MemoryType, str]]] = ..., tags: _Optional[_Iterable[str]] = ..., states: _Optional[_Iterable[_Union[_cube_pb2.CubeState, str]]] = ..., sources: _Optional[_Iterable[_Union[_cube_pb2.Source, str]]] = ..., created_after_ms: _Optional[int] = ..., created_before_ms: _Optional[int] = ..., updated_after_ms: _Optional[int] = ..., updated_before_ms: _Optional[int] = ..., attributes: _Optional[_Mapping[str, str]] = ..., k: _Optional[int] = ..., mode: _Optional[_Union[SearchMode, str]] = ..., read: _Optional[_Union[ReadOptions, _Mapping]] = ..., fusion: _Optional[_Union[Fusion, str]] = ..., dense_weight: _Optional[float] = ..., expand_links: _Optional[bool] = ..., strength_weight: _Optional[float] = ..., adapter: _Optional[str] = ...) -> None: ...

class LinkedCube(_message.Message):
    __slots__ = ("type", "incoming", "cube")
    TYPE_FIELD_NUMBER: _ClassVar[int]
    INCOMING_FIELD_NUMBER: _ClassVar[int]
    CUBE_FIELD_NUMBER: _ClassVar[int]
    type: _cube_pb2.LinkType
    incoming: bool
    cube: _cube_pb2.MemCube
    def __init__(self, type: _Optional[_Union[_cube_pb2.LinkType, str]] = ..., incoming: _Optional[bool] = ..., cube: _Optional[_Union[_cube_pb2.MemCube, _Mapping]] = ...) -> None: ...

class SearchHit(_message.Message):
    __slots__ = ("cube", "score", "dense_score", "dense_rank", "lexical_score", "lexical_rank", "linked", "strength")
    CUBE_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    DENSE_SCORE_FIELD_NUMBER: _ClassVar[int]
    DENSE_RANK_FIELD_NUMBER: _ClassVar[int]
    LEXICAL_SCORE_FIELD_NUMBER: _ClassVar[int]
    LEXICAL_RANK_FIELD_NUMBER: _ClassVar[int]
    LINKED_FIELD_NUMBER: _ClassVar[int]
    STRENGTH_FIELD_NUMBER: _ClassVar[int]
    cube: _cube_pb2.MemCube
    score: float
    dense_score: float
    dense_rank: int
    lexical_score: float
    lexical_rank: int
    linked: _containers.RepeatedCompositeFieldContainer[LinkedCube]
    strength: float
    def __init__(self, cube: _Optional[_Union[_cube_pb2.MemCube, _Mapping]] = ..., score: _Optional[float] = ..., dense_score: _Optional[float] = ..., dense_rank: _Optional[int] = ..., lexical_score: _Optional[float] = ..., lexical_rank: _Optional[int] = ..., linked: _Optional[_Iterable[_Union[LinkedCube, _Mapping]]] = ..., strength: _Optional[float] = ...) -> None: ...

class SearchResponse(_message.Message):
    __slots__ = ("hits", "read_revision", "model", "adapter")
    HITS_FIELD_NUMBER: _ClassVar[int]
    READ_REVISION_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    ADAPTER_FIELD_NUMBER: _ClassVar[int]
    hits: _containers.RepeatedCompositeFieldContainer[SearchHit]
    read_revision: int
    model: str
    adapter: AdapterRef
    def __init__(self, hits: _Optional[_Iterable[_Union[SearchHit, _Mapping]]] = ..., read_revision: _Optional[int] = ..., model: _Optional[str] = ..., adapter: _Optional[_Union[AdapterRef, _Mapping]] = ...) -> None: ...

class AdapterRef(_message.Message):
    __slots__ = ("id", "version")
    ID_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    id: str
    version: int
    def __init__(self, id: _Optional[str] = ..., version: _Optional[int] = ...) -> None: ...

class FeedbackItem(_message.Message):
    __slots__ = ("query", "cube_id", "negative")
    QUERY_FIELD_NUMBER: _ClassVar[int]
    CUBE_ID_FIELD_NUMBER: _ClassVar[int]
    NEGATIVE_FIELD_NUMBER: _ClassVar[int]
    query: str
    cube_id: str
    negative: bool
    def __init__(self, query: _Optional[str] = ..., cube_id: _Optional[str] = ..., negative: _Optional[bool] = ...) -> None: ...

class FeedbackRequest(_message.Message):
    __slots__ = ("items", "request_id")
    ITEMS_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    items: _containers.RepeatedCompositeFieldContainer[FeedbackItem]
    request_id: str
    def __init__(self, items: _Optional[_Iterable[_Union[FeedbackItem, _Mapping]]] = ..., request_id: _Optional[str] = ...) -> None: ...

class FeedbackResponse(_message.Message):
    __slots__ = ("recorded", "revision")
    RECORDED_FIELD_NUMBER: _ClassVar[int]
    REVISION_FIELD_NUMBER: _ClassVar[int]
    recorded: int
    revision: int
    def __init__(self, recorded: _Optional[int] = ..., revision: _Optional[int] = ...) -> None: ...

class TrainAdapterRequest(_message.Message):
    __slots__ = ("scope", "activate", "rank", "request_id")
    SCOPE_FIELD_NUMBER: _ClassVar[int]
    ACTIVATE_FIELD_NUMBER: _ClassVar[int]
    LAMBDA_FIELD_NUMBER: _ClassVar[int]
    RANK_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    scope: _cube_pb2.Scope
    activate: bool
    rank: int
    request_id: str
    def __init__(self, scope: _Optional[_Union[_cube_pb2.Scope, _Mapping]] = ..., activate: _Optional[bool] = ..., rank: _Optional[int] = ..., request_id: _Optional[str] = ..., **kwargs) -> None: ...

class TrainAdapterResponse(_message.Message):
    __slots__ = ("adapter", "revision", "pairs", "held_out", "recall_before", "recall_after", "rank", "beta")
    ADAPTER_FIELD_NUMBER: _ClassVar[int]
    REVISION_FIELD_NUMBER: _ClassVar[int]
    PAIRS_FIELD_NUMBER: _ClassVar[int]
    HELD_OUT_FIELD_NUMBER: _ClassVar[int]
    RECALL_BEFORE_FIELD_NUMBER: _ClassVar[int]
    RECALL_AFTER_FIELD_NUMBER: _ClassVar[int]
    LAMBDA_FIELD_NUMBER: _ClassVar[int]
    RANK_FIELD_NUMBER: _ClassVar[int]
    BETA_FIELD_NUMBER: _ClassVar[int]
    adapter: _cube_pb2.MemCube
    revision: int
    pairs: int
    held_out: int
    recall_before: float
    recall_after: float
    rank: int
    beta: float
    def __init__(self, adapter: _Optional[_Union[_cube_pb2.MemCube, _Mapping]] = ..., revision: _Optional[int] = ..., pairs: _Optional[int] = ..., held_out: _Optional[int] = ..., recall_before: _Optional[float] = ..., recall_after: _Optional[float] = ..., rank: _Optional[int] = ..., beta: _Optional[float] = ..., **kwargs) -> None: ...

class LinkRequest(_message.Message):
    __slots__ = ("source_id", "link", "remove", "expected_version", "request_id")
    SOURCE_ID_FIELD_NUMBER: _ClassVar[int]
    LINK_FIELD_NUMBER: _ClassVar[int]
    REMOVE_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_VERSION_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    source_id: str
    link: _cube_pb2.Link
    remove: bool
    expected_version: int
    request_id: str
    def __init__(self, source_id: _Optional[str] = ..., link: _Optional[_Union[_cube_pb2.Link, _Mapping]] = ..., remove: _Optional[bool] = ..., expected_version: _Optional[int] = ..., request_id: _Optional[str] = ...) -> None: ...

class ConsolidateRequest(_message.Message):
    __slots__ = ("scope", "mode", "threshold", "dry_run", "max_clusters")
    SCOPE_FIELD_NUMBER: _ClassVar[int]
    MODE_FIELD_NUMBER: _ClassVar[int]
    THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    DRY_RUN_FIELD_NUMBER: _ClassVar[int]
    MAX_CLUSTERS_FIELD_NUMBER: _ClassVar[int]
    scope: _cube_pb2.Scope
    mode: DedupeMode
    threshold: float
    dry_run: bool
    max_clusters: int
    def __init__(self, scope: _Optional[_Union[_cube_pb2.Scope, _Mapping]] = ..., mode: _Optional[_Union[DedupeMode, str]] = ..., threshold: _Optional[float] = ..., dry_run: _Optional[bool] = ..., max_clusters: _Optional[int] = ...) -> None: ...

class MergeCluster(_message.Message):
    __slots__ = ("keeper_id", "member_ids", "similarities")
    KEEPER_ID_FIELD_NUMBER: _ClassVar[int]
    MEMBER_IDS_FIELD_NUMBER: _ClassVar[int]
    SIMILARITIES_FIELD_NUMBER: _ClassVar[int]
    keeper_id: str
    member_ids: _containers.RepeatedScalarFieldContainer[str]
    similarities: _containers.RepeatedScalarFieldContainer[float]
    def __init__(self, keeper_id: _Optional[str] = ..., member_ids: _Optional[_Iterable[str]] = ..., similarities: _Optional[_Iterable[float]] = ...) -> None: ...

class ConsolidateResponse(_message.Message):
    __slots__ = ("clusters", "merged", "skipped", "revision")
    CLUSTERS_FIELD_NUMBER: _ClassVar[int]
    MERGED_FIELD_NUMBER: _ClassVar[int]
    SKIPPED_FIELD_NUMBER: _ClassVar[int]
    REVISION_FIELD_NUMBER: _ClassVar[int]
    clusters: _containers.RepeatedCompositeFieldContainer[MergeCluster]
    merged: int
    skipped: int
    revision: int
    def __init__(self, clusters: _Optional[_Iterable[_Union[MergeCluster, _Mapping]]] = ..., merged: _Optional[int] = ..., skipped: _Optional[int] = ..., revision: _Optional[int] = ...) -> None: ...
