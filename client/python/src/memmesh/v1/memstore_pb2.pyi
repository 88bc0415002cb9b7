from memmesh.v1 import cube_pb2 as _cube_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class EventType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    EVENT_TYPE_UNSPECIFIED: _ClassVar[EventType]
    EVENT_TYPE_CREATED: _ClassVar[EventType]
    EVENT_TYPE_UPDATED: _ClassVar[EventType]
    EVENT_TYPE_DELETED: _ClassVar[EventType]
    EVENT_TYPE_RESTORED: _ClassVar[EventType]
    EVENT_TYPE_PURGED: _ClassVar[EventType]
    EVENT_TYPE_ROLLED_BACK: _ClassVar[EventType]
    EVENT_TYPE_EXPIRED: _ClassVar[EventType]
    EVENT_TYPE_MERGED: _ClassVar[EventType]
    EVENT_TYPE_SUPERSEDED: _ClassVar[EventType]
    EVENT_TYPE_ARCHIVED: _ClassVar[EventType]
    EVENT_TYPE_REACTIVATED: _ClassVar[EventType]
    EVENT_TYPE_IMPORTED: _ClassVar[EventType]
EVENT_TYPE_UNSPECIFIED: EventType
EVENT_TYPE_CREATED: EventType
EVENT_TYPE_UPDATED: EventType
EVENT_TYPE_DELETED: EventType
EVENT_TYPE_RESTORED: EventType
EVENT_TYPE_PURGED: EventType
EVENT_TYPE_ROLLED_BACK: EventType
EVENT_TYPE_EXPIRED: EventType
EVENT_TYPE_MERGED: EventType
EVENT_TYPE_SUPERSEDED: EventType
EVENT_TYPE_ARCHIVED: EventType
EVENT_TYPE_REACTIVATED: EventType
EVENT_TYPE_IMPORTED: EventType

class SubscribeRequest(_message.Message):
    __slots__ = ("scope", "event_types", "memory_types", "start_revision", "progress_notify_ms", "prev_cube")
    SCOPE_FIELD_NUMBER: _ClassVar[int]
    EVENT_TYPES_FIELD_NUMBER: _ClassVar[int]
    MEMORY_TYPES_FIELD_NUMBER: _ClassVar[int]
    START_REVISION_FIELD_NUMBER: _ClassVar[int]
    PROGRESS_NOTIFY_MS_FIELD_NUMBER: _ClassVar[int]
    PREV_CUBE_FIELD_NUMBER: _ClassVar[int]
    scope: _cube_pb2.Scope
    event_types: _containers.RepeatedScalarFieldContainer[EventType]
    memory_types: _containers.RepeatedScalarFieldContainer[_cube_pb2.MemoryType]
    start_revision: int
    progress_notify_ms: int
    prev_cube: bool
    def __init__(self, scope: _Optional[_Union[_cube_pb2.Scope, _Mapping]] = ..., event_types: _Optional[_Iterable[_Union[EventType, str]]] = ..., memory_types: _Optional[_Iterable[_Union[_cube_pb2.MemoryType, str]]] = ..., start_revision: _Optional[int] = ..., progress_notify_ms: _Optional[int] = ..., prev_cube: _Optional[bool] = ...) -> None: ...

class Event(_message.Message):
    __slots__ = ("type", "cube", "prev_cube", "request_id")
    TYPE_FIELD_NUMBER: _ClassVar[int]
    CUBE_FIELD_NUMBER: _ClassVar[int]
    PREV_CUBE_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    type: EventType
    cube: _cube_pb2.MemCube
    prev_cube: _cube_pb2.MemCube
    request_id: str
    def __init__(self, type: _Optional[_Union[EventType, str]] = ..., cube: _Optional[_Union[_cube_pb2.MemCube, _Mapping]] = ..., prev_cube: _Optional[_Union[_cube_pb2.MemCube, _Mapping]] = ..., request_id: _Optional[str] = ...) -> None: ...

class EventBatch(_message.Message):
    __slots__ = ("revision", "events")
    REVISION_FIELD_NUMBER: _ClassVar[int]
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    revision: int
    events: _containers.RepeatedCompositeFieldContainer[Event]
    def __init__(self, revision: _Optional[int] = ..., events: _Optional[_Iterable[_Union[Event, _Mapping]]] = ...) -> None: ...

class Progress(_message.Message):
    __slots__ = ("revision",)
    REVISION_FIELD_NUMBER: _ClassVar[int]
    revision: int
    def __init__(self, revision: _Optional[int] = ...) -> None: ...

class SubscribeResponse(_message.Message):
    __slots__ = ("events", "progress")
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    PROGRESS_FIELD_NUMBER: _ClassVar[int]
    events: EventBatch
    progress: Progress
    def __init__(self, events: _Optional[_Union[EventBatch, _Mapping]] = ..., progress: _Optional[_Union[Progress, _Mapping]] = ...) -> None: ...
