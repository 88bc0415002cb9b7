from memmesh.v1 import cube_pb2 as _cube_pb2
from memmesh.v1 import memory_pb2 as _memory_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Role(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ROLE_UNSPECIFIED: _ClassVar[Role]
    ROLE_READER: _ClassVar[Role]
    ROLE_WRITER: _ClassVar[Role]
    ROLE_ADMIN: _ClassVar[Role]

class Access(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ACCESS_UNSPECIFIED: _ClassVar[Access]
    ACCESS_READ: _ClassVar[Access]
    ACCESS_READ_WRITE: _ClassVar[Access]
ROLE_UNSPECIFIED: Role
ROLE_READER: Role
ROLE_WRITER: Role
ROLE_ADMIN: Role
ACCESS_UNSPECIFIED: Access
ACCESS_READ: Access
ACCESS_READ_WRITE: Access

class ExportRequest(_message.Message):
    __slots__ = ("tenant", "user", "as_of_revision", "history")
    TENANT_FIELD_NUMBER: _ClassVar[int]
    USER_FIELD_NUMBER: _ClassVar[int]
    AS_OF_REVISION_FIELD_NUMBER: _ClassVar[int]
    HISTORY_FIELD_NUMBER: _ClassVar[int]
    tenant: str
    user: str
    as_of_revision: int
    history: bool
    def __init__(self, tenant: _Optional[str] = ..., user: _Optional[str] = ..., as_of_revision: _Optional[int] = ..., history: _Optional[bool] = ...) -> None: ...

class ExportChunk(_message.Message):
    __slots__ = ("revision", "cubes", "policies")
    REVISION_FIELD_NUMBER: _ClassVar[int]
    CUBES_FIELD_NUMBER: _ClassVar[int]
    POLICIES_FIELD_NUMBER: _ClassVar[int]
    revision: int
    cubes: _containers.RepeatedCompositeFieldContainer[ExportedCube]
    policies: _containers.RepeatedCompositeFieldContainer[Policy]
    def __init__(self, revision: _Optional[int] = ..., cubes: _Optional[_Iterable[_Union[ExportedCube, _Mapping]]] = ..., policies: _Optional[_Iterable[_Union[Policy, _Mapping]]] = ...) -> None: ...

class ExportedCube(_message.Message):
    __slots__ = ("cube", "history")
    CUBE_FIELD_NUMBER: _ClassVar[int]
    HISTORY_FIELD_NUMBER: _ClassVar[int]
    cube: _cube_pb2.MemCube
    history: _containers.RepeatedCompositeFieldContainer[_cube_pb2.MemCube]
    def __init__(self, cube: _Optional[_Union[_cube_pb2.MemCube, _Mapping]] = ..., history: _Optional[_Iterable[_Union[_cube_pb2.MemCube, _Mapping]]] = ...) -> None: ...

class ImportRequest(_message.Message):
    __slots__ = ("tenant", "cubes", "policies")
    TENANT_FIELD_NUMBER: _ClassVar[int]
    CUBES_FIELD_NUMBER: _ClassVar[int]
    POLICIES_FIELD_NUMBER: _ClassVar[int]
    tenant: str
    cubes: _containers.RepeatedCompositeFieldContainer[ExportedCube]
    policies: _containers.RepeatedCompositeFieldContainer[Policy]
    def __init__(self, tenant: _Optional[str] = ..., cubes: _Optional[_Iterable[_Union[ExportedCube, _Mapping]]] = ..., policies: _Optional[_Iterable[_Union[Policy, _Mapping]]] = ...) -> None: ...

class ImportResponse(_message.Message):
    __slots__ = ("imported", "existing", "policies_imported", "revision")
    IMPORTED_FIELD_NUMBER: _ClassVar[int]
    EXISTING_FIELD_NUMBER: _ClassVar[int]
    POLICIES_IMPORTED_FIELD_NUMBER: _ClassVar[int]
    REVISION_FIELD_NUMBER: _ClassVar[int]
    imported: int
    existing: int
    policies_imported: int
    revision: int
    def __init__(self, imported: _Optional[int] = ..., existing: _Optional[int] = ..., policies_imported: _Optional[int] = ..., revision: _Optional[int] = ...) -> None: ...

class BackupRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class BackupChunk(_message.Message):
    __slots__ = ("revision", "total_bytes", "data")
    REVISION_FIELD_NUMBER: _ClassVar[int]
    TOTAL_BYTES_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    revision: int
    total_bytes: int
    data: bytes
    def __init__(self, revision: _Optional[int] = ..., total_bytes: _Optional[int] = ..., data: _Optional[bytes] = ...) -> None: ...

class Policy(_message.Message):
    __slots__ = ("name", "scope", "memory_type", "dedupe", "dedupe_threshold", "consolidate_every_seconds", "consolidate_mode", "consolidate_threshold", "updated_at_ms", "last_consolidated_at_ms", "default_ttl_seconds", "purge_deleted_after_seconds", "purge_expired_after_seconds", "hold", "backfill_cursor", "archive_after_idle_seconds", "archive_below_strength", "reactivate_on_access", "max_active_per_scope")
    NAME_FIELD_NUMBER: _ClassVar[int]
    SCOPE_FIELD_NUMBER: _ClassVar[int]
    MEMORY_TYPE_FIELD_NUMBER: _ClassVar[int]
    DEDUPE_FIELD_NUMBER: _ClassVar[int]
    DEDUPE_THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    CONSOLIDATE_EVERY_SECONDS_FIELD_NUMBER: _ClassVar[int]
    CONSOLIDATE_MODE_FIELD_NUMBER: _ClassVar[int]
    CONSOLIDATE_THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_MS_FIELD_NUMBER: _ClassVar[int]
    LAST_CONSOLIDATED_AT_MS_FIELD_NUMBER: _ClassVar[int]
    DEFAULT_TTL_SECONDS_FIELD_NUMBER: _ClassVar[int]
    PURGE_DELETED_AFTER_SECONDS_FIELD_NUMBER: _ClassVar[int]
    PURGE_EXPIRED_AFTER_SECONDS_FIELD_NUMBER: _ClassVar[int]
    HOLD_FIELD_NUMBER: _ClassVar[int]
    BACKFILL_CURSOR_FIELD_NUMBER: _ClassVar[int]
    ARCHIVE_AFTER_IDLE_SECONDS_FIELD_NUMBER: _ClassVar[int]
    ARCHIVE_BELOW_STRENGTH_FIELD_NUMBER: _ClassVar[int]
    REACTIVATE_ON_ACCESS_FIELD_NUMBER: _ClassVar[int]
    MAX_ACTIVE_PER_SCOPE_FIELD_NUMBER: _ClassVar[int]
    name: str
    scope: _cube_pb2.Scope
    memory_type: _cube_pb2.MemoryType
    dedupe: _memory_pb2.DedupeMode
    dedupe_threshold: float
    consolidate_every_seconds: int
    consolidate_mode: _memory_pb2.DedupeMode
    consolidate_threshold: float
    updated_at_ms: int
    last_consolidated_at_ms: int
    default_ttl_seconds: int
    purge_deleted_after_seconds: int
    purge_expired_after_seconds: int
    hold: bool
    backfill_cursor: str
    archive_after_idle_seconds: int
    archive_below_strength: float
    reactivate_on_access: bool
    max_active_per_scope: int
    def __init__(self, name: _Optional[str] = ..., scope: _Optional[_Union[_cube_pb2.Scope, _Mapping]] = ..., memory_type: _Optional[_Union[_cube_pb2.MemoryType, str]] = ..., dedupe: _Optional[_Union[_memory_pb2.DedupeMode, str]] = ..., dedupe_threshold: _Optional[float] = ..., consolidate_every_seconds: _Optional[int] = ..., consolidate_mode: _Optional[_Union[_memory_pb2.DedupeMode, str]] = ..., consolidate_threshold: _Optional[float] = ..., updated_at_ms: _Optional[int] = ..., last_consolidated_at_ms: _Optional[int] = ..., default_ttl_seconds: _Optional[int] = ..., purge_deleted_after_seconds: _Optional[int] = ..., purge_expired_after_seconds: _Optional[int] = ..., hold: _Optional[bool] = ..., backfill_cursor: _Optional[str] = ..., archive_after_idle_seconds: _Optional[int] = ..., archive_below_strength: _Optional[float] = ..., reactivate_on_access: _Optional[bool] = ..., max_active_per_scope: _Optional[int] = ...) -> None: ...

class SetPolicyRequest(_message.Message):
    __slots__ = ("policy",)
    POLICY_FIELD_NUMBER: _ClassVar[int]
    policy: Policy
    def __init__(self, policy: _Optional[_Union[Policy, _Mapping]] = ...) -> None: ...

class PolicyRef(_message.Message):
    __slots__ = ("tenant", "name")
    TENANT_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    tenant: str
    name: str
    def __init__(self, tenant: _Optional[str] = ..., name: _Optional[str] = ...) -> None: ...

class ListPoliciesRequest(_message.Message):
    __slots__ = ("tenant",)
    TENANT_FIELD_NUMBER: _ClassVar[int]
    tenant: str
    def __init__(self, tenant: _Optional[str] = ...) -> None: ...

class ListPoliciesResponse(_message.Message):
    __slots__ = ("policies",)
    POLICIES_FIELD_NUMBER: _ClassVar[int]
    policies: _containers.RepeatedCompositeFieldContainer[Policy]
    def __init__(self, policies: _Optional[_Iterable[_Union[Policy, _Mapping]]] = ...) -> None: ...

class Principal(_message.Message):
    __slots__ = ("tenant", "user", "agent", "role", "cluster_admin")
    TENANT_FIELD_NUMBER: _ClassVar[int]
    USER_FIELD_NUMBER: _ClassVar[int]
    AGENT_FIELD_NUMBER: _ClassVar[int]
    ROLE_FIELD_NUMBER: _ClassVar[int]
    CLUSTER_ADMIN_FIELD_NUMBER: _ClassVar[int]
    tenant: str
    user: str
    agent: str
    role: Role
    cluster_admin: bool
    def __init__(self, tenant: _Optional[str] = ..., user: _Optional[str] = ..., agent: _Optional[str] = ..., role: _Optional[_Union[Role, str]] = ..., cluster_admin: _Optional[bool] = ...) -> None: ...

class TokenInfo(_message.Message):
    __slots__ = ("id", "principal", "created_at_ms", "expires_at_ms", "description")
    ID_FIELD_NUMBER: _ClassVar[int]
    PRINCIPAL_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_MS_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_AT_MS_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    id: str
    principal: Principal
    created_at_ms: int
    expires_at_ms: int
    description: str
    def __init__(self, id: _Optional[str] = ..., principal: _Optional[_Union[Principal, _Mapping]] = ..., created_at_ms: _Optional[int] = ..., expires_at_ms: _Optional[int] = ..., description: _Optional[str] = ...) -> None: ...

class CreateTokenRequest(_message.Message):
    __slots__ = ("principal", "ttl_seconds", "description")
    PRINCIPAL_FIELD_NUMBER: _ClassVar[int]
    TTL_SECONDS_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    principal: Principal
    ttl_seconds: int
    description: str
    def __init__(self, principal: _Optional[_Union[Principal, _Mapping]] = ..., ttl_seconds: _Optional[int] = ..., description: _Optional[str] = ...) -> None: ...

class CreateTokenResponse(_message.Message):
    __slots__ = ("token", "info")
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    INFO_FIELD_NUMBER: _ClassVar[int]
    token: str
    info: TokenInfo
    def __init__(self, token: _Optional[str] = ..., info: _Optional[_Union[TokenInfo, _Mapping]] = ...) -> None: ...

class ListTokensRequest(_message.Message):
    __slots__ = ("tenant",)
    TENANT_FIELD_NUMBER: _ClassVar[int]
    tenant: str
    def __init__(self, tenant: _Optional[str] = ...) -> None: ...

class ListTokensResponse(_message.Message):
    __slots__ = ("tokens",)
    TOKENS_FIELD_NUMBER: _ClassVar[int]
    tokens: _containers.RepeatedCompositeFieldContainer[TokenInfo]
    def __init__(self, tokens: _Optional[_Iterable[_Union[TokenInfo, _Mapping]]] = ...) -> None: ...

class RevokeTokenRequest(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class RevokeResponse(_message.Message):
    __slots__ = ("revision",)
    REVISION_FIELD_NUMBER: _ClassVar[int]
    revision: int
    def __init__(self, revision: _Optional[int] = ...) -> None: ...

class Grant(_message.Message):
    __slots__ = ("id", "scope", "grantee", "access", "expires_at_ms", "created_at_ms")
    ID_FIELD_NUMBER: _ClassVar[int]
    SCOPE_FIELD_NUMBER: _ClassVar[int]
    GRANTEE_FIELD_NUMBER: _ClassVar[int]
    ACCESS_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_AT_MS_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_MS_FIELD_NUMBER: _ClassVar[int]
    id: str
    scope: _cube_pb2.Scope
    grantee: Principal
    access: Access
    expires_at_ms: int
    created_at_ms: int
    def __init__(self, id: _Optional[str] = ..., scope: _Optional[_Union[_cube_pb2.Scope, _Mapping]] = ..., grantee: _Optional[_Union[Principal, _Mapping]] = ..., access: _Optional[_Union[Access, str]] = ..., expires_at_ms: _Optional[int] = ..., created_at_ms: _Optional[int] = ...) -> None: ...

class CreateGrantRequest(_message.Message):
    __slots__ = ("scope", "grantee", "access", "ttl_seconds")
    SCOPE_FIELD_NUMBER: _ClassVar[int]
    GRANTEE_FIELD_NUMBER: _ClassVar[int]
    ACCESS_FIELD_NUMBER: _ClassVar[int]
    TTL_SECONDS_FIELD_NUMBER: _ClassVar[int]
    scope: _cube_pb2.Scope
    grantee: Principal
    access: Access
    ttl_seconds: int
    def __init__(self, scope: _Optional[_Union[_cube_pb2.Scope, _Mapping]] = ..., grantee: _Optional[_Union[Principal, _Mapping]] = ..., access: _Optional[_Union[Access, str]] = ..., ttl_seconds: _Optional[int] = ...) -> None: ...

class ListGrantsRequest(_message.Message):
    __slots__ = ("tenant",)
    TENANT_FIELD_NUMBER: _ClassVar[int]
    tenant: str
    def __init__(self, tenant: _Optional[str] = ...) -> None: ...

class ListGrantsResponse(_message.Message):
    __slots__ = ("grants",)
    GRANTS_FIELD_NUMBER: _ClassVar[int]
    grants: _containers.RepeatedCompositeFieldContainer[Grant]
    def __init__(self, grants: _Optional[_Iterable[_Union[Grant, _Mapping]]] = ...) -> None: ...

class RevokeGrantRequest(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class WhoAmIRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class AuditEntry(_message.Message):
    __slots__ = ("revision", "position", "tenant", "actor", "operation", "target", "outcome", "at_ms")
    REVISION_FIELD_NUMBER: _ClassVar[int]
    POSITION_FIELD_NUMBER: _ClassVar[int]
    TENANT_FIELD_NUMBER: _ClassVar[int]
    ACTOR_FIELD_NUMBER: _ClassVar[int]
    OPERATION_FIELD_NUMBER: _ClassVar[int]
    TARGET_FIELD_NUMBER: _ClassVar[int]
    OUTCOME_FIELD_NUMBER: _ClassVar[int]
    AT_MS_FIELD_NUMBER: _ClassVar[int]
    revision: int
    position: int
    tenant: str
    actor: str
    operation: str
    target: str
    outcome: str
    at_ms: int
    def __init__(self, revision: _Optional[int] = ..., position: _Optional[int] = ..., tenant: _Optional[str] = ..., actor: _Optional[str] = ..., operation: _Optional[str] = ..., target: _Optional[str] = ..., outcome: _Optional[str] = ..., at_ms: _Optional[int] = ...) -> None: ...

class ListAuditRequest(_message.Message):
    __slots__ = ("tenant", "page_token", "limit")
    TENANT_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    tenant: str
    page_token: str
    limit: int
    def __init__(self, tenant: _Optional[str] = ..., page_token: _Optional[str] = ..., limit: _Optional[int] = ...) -> None: ...

class ListAuditResponse(_message.Message):
    __slots__ = ("entries", "next_page_token")
    ENTRIES_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    entries: _containers.RepeatedCompositeFieldContainer[AuditEntry]
    next_page_token: str
    def __init__(self, entries: _Optional[_Iterable[_Union[AuditEntry, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...
