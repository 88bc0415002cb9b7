"""Which node to call, and when to call again: shared by the sync and asyncio clients.

A call that fails UNAVAILABLE (node down, no leader yet, not the leader) is retried with
backoff — on the leader the node named (``x-memmesh-leader``), else on the next address. Writes
carry a request id from the first attempt, so a retry of a write that did land is answered
from the node's idempotency record instead of writing twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import List, Optional, Sequence, Tuple, Union

import grpc

RETRYABLE = (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED)


@dataclass
class TLS:
    """Transport security: the CA to trust (PEM bytes), and a client certificate and key for
    nodes that require mutual TLS."""

    ca: bytes
    cert: Optional[bytes] = None
    key: Optional[bytes] = None

    def credentials(self) -> grpc.ChannelCredentials:
        return grpc.ssl_channel_credentials(root_certificates=self.ca, private_key=self.key, certificate_chain=self.cert)


#: Largest message sent or accepted (the node's default request limit).
MAX_MESSAGE_BYTES = 64 * 1024 * 1024
CHANNEL_OPTIONS = [("grpc.max_send_message_length", MAX_MESSAGE_BYTES), ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES)]


class Targets:
    """The node addresses a client knows, and which one it calls now."""

    def __init__(self, addrs: Union[str, Sequence[str]]) -> None:
        self.addrs: List[str] = [a.strip() for a in ([addrs] if isinstance(addrs, str) else list(addrs)) for a in a.split(",") if a.strip()]
        if not self.addrs:
            raise ValueError("give at least one node address (host:port)")
        self.current = 0

    @property
    def addr(self) -> str:
        return self.addrs[self.current]

    def move(self, leader: Optional[str]) -> None:
        """After an UNAVAILABLE: to the leader if one was named, else to the next address."""
        if leader:
            if leader not in self.addrs:
                self.addrs.append(leader)
            self.current = self.addrs.index(leader)
        else:
            self.current = (self.current + 1) % len(self.addrs)


def metadata(token: Optional[str]) -> Tuple[Tuple[str, str], ...]:
    return (("authorization", f"Bearer {token}"),) if token else ()


def backoff(attempt: int) -> float:
    return float(min(0.05 * (2**attempt), 1.0))
