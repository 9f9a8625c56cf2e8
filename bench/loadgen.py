"""A small HTTP/1.1 load generator: keep-alive connections on asyncio streams, closed loop.

It runs in the benchmark's process, never in the server's, against 127.0.0.1 only. A general
client (httpx) spends more CPU per request than the server's raw route does, and on a 2-core
machine the generator's cost would cap what it measures; this one writes prebuilt request bytes
and reads ``Content-Length`` bodies, a few microseconds per request. Every request is bounded:
a run stops after its duration, each connection after a request in flight ends.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from dataclasses import dataclass, field

from bench.common import percentile


class LoadError(RuntimeError):
    pass


@dataclass
class LoadResult:
    requests: int
    seconds: float
    latencies: list[float] = field(repr=False)
    body: bytes = field(repr=False, default=b"")
    status: int = 0

    @property
    def rate(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    @property
    def p50(self) -> float:
        return percentile(self.latencies, 0.50)

    @property
    def p99(self) -> float:
        return percentile(self.latencies, 0.99)


def build_request(
    method: str,
    path: str,
    *,
    port: int,
    body: bytes = b"",
    headers: Mapping[str, str] | None = None,
) -> bytes:
    head = [
        f"{method} {path} HTTP/1.1",
        f"Host: 127.0.0.1:{port}",
        "Accept: application/json",
        "Connection: keep-alive",
        *(f"{name}: {value}" for name, value in (headers or {}).items()),
    ]
    if method != "GET":
        head += ["Content-Type: application/json", f"Content-Length: {len(body)}"]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    status = int(lines[0].split(b" ", 2)[1])
    length = None
    chunked = False
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        lowered = name.strip().lower()
        if lowered == b"content-length":
            length = int(value.strip())
        elif lowered == b"transfer-encoding" and b"chunked" in value.lower():
            chunked = True
    if length is not None:
        return status, await reader.readexactly(length)
    if not chunked:
        raise LoadError("a response without Content-Length or chunked encoding")
    parts: list[bytes] = []
    while True:
        size = int((await reader.readuntil(b"\r\n")).strip(), 16)
        chunk = await reader.readexactly(size + 2)
        if size == 0:
            return status, b"".join(parts)
        parts.append(chunk[:-2])


async def fetch(port: int, request: bytes) -> tuple[int, bytes]:
    """One request on a fresh connection (for checks, not for load)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(request)
        return await _read_response(reader)
    finally:
        writer.close()


async def run_load(
    port: int,
    request: bytes,
    *,
    connections: int,
    seconds: float,
    warmup: float = 1.0,
    expect_status: int = 200,
) -> LoadResult:
    """``connections`` clients sending ``request`` back to back for ``warmup`` + ``seconds``;
    only requests that start after the warm-up count."""
    latencies: list[float] = []
    bodies: list[bytes] = []
    started = time.perf_counter()
    measure_from = started + warmup
    stop_at = measure_from + seconds

    async def client() -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            while True:
                sent = time.perf_counter()
                if sent >= stop_at:
                    return
                writer.write(request)
                status, body = await _read_response(reader)
                if status != expect_status:
                    raise LoadError(f"HTTP {status}: {body[:300]!r}")
                if sent >= measure_from:
                    latencies.append(time.perf_counter() - sent)
                    if not bodies:
                        bodies.append(body)
        finally:
            writer.close()

    await asyncio.gather(*(client() for _ in range(connections)))
    return LoadResult(
        requests=len(latencies),
        seconds=seconds,
        latencies=latencies,
        body=bodies[0] if bodies else b"",
        status=expect_status,
    )


class Connection:
    """One keep-alive connection for sequential requests (mutations, checks)."""

    def __init__(self, port: int) -> None:
        self.port = port
        self._streams: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None

    async def request(self, request: bytes) -> tuple[int, bytes]:
        if self._streams is None:
            self._streams = await asyncio.open_connection("127.0.0.1", self.port)
        reader, writer = self._streams
        writer.write(request)
        return await _read_response(reader)

    def close(self) -> None:
        if self._streams is not None:
            self._streams[1].close()
            self._streams = None
