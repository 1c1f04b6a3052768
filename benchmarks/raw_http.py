"""The benchmarks' webhook client: a minimal keep-alive HTTP/1.1 client on raw asyncio streams.

``httpx.AsyncClient`` costs 2-3 ms of client CPU per request, so on this 2-core machine a benchmark
using it measures its own client (and takes that CPU from the processes measured; Meta's servers are
not on the bridge's machine).  ``post_raw`` sends prepared requests over a few connections, on an
open-loop schedule or as fast as possible, and records when each was sent and answered.
"""

from __future__ import annotations

import asyncio
import time

import httpx


async def post_raw(url: str, requests: list[tuple[bytes, dict]], rate: float | None, connections: int,
                   start_delay: float = 0.0) -> tuple[float, list[tuple[float, float, int | str]]]:
    """POST each ``(body, headers)`` of ``requests`` to ``url``: request ``i`` is due at
    ``t0 + i / rate`` (``rate`` None: at once) and waits in a queue for a free connection.

    Returns ``(t0, results)``, ``results[i] = (sent, done, status)``: ``time.perf_counter`` times and
    the HTTP status, or the name of the exception that broke the exchange (the connection is then
    opened again).  ``start_delay`` lets the connections open before the first request is due.
    """
    parsed = httpx.URL(url)
    head = f"POST {parsed.raw_path.decode()} HTTP/1.1\r\nHost: {parsed.host}:{parsed.port}\r\n"
    wire = [(head + "".join(f"{k}: {v}\r\n" for k, v in headers.items())
             + f"Content-Length: {len(raw)}\r\n\r\n").encode() + raw for raw, headers in requests]
    results: list[tuple[float, float, int | str] | None] = [None] * len(wire)
    queue: asyncio.Queue = asyncio.Queue()

    async def connection() -> None:
        reader, writer = await asyncio.open_connection(parsed.host, parsed.port)
        while (index := await queue.get()) is not None:
            sent = time.perf_counter()
            try:
                writer.write(wire[index])
                answer = await reader.readuntil(b"\r\n\r\n")
                status = int(answer.split(b" ", 2)[1])
                length = next((int(line.split(b":", 1)[1]) for line in answer.split(b"\r\n")
                               if line.lower().startswith(b"content-length:")), 0)
                if length:
                    await reader.readexactly(length)
            except (OSError, asyncio.IncompleteReadError, ValueError) as exc:
                results[index] = (sent, time.perf_counter(), type(exc).__name__)
                writer.close()
                reader, writer = await asyncio.open_connection(parsed.host, parsed.port)
                continue
            results[index] = (sent, time.perf_counter(), status)
        writer.close()

    workers = [asyncio.create_task(connection()) for _ in range(connections)]
    t0 = time.perf_counter() + start_delay
    for index in range(len(wire)):
        if rate:
            delay = t0 + index / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
        queue.put_nowait(index)
    for _ in workers:
        queue.put_nowait(None)
    await asyncio.gather(*workers)
    return t0, results
