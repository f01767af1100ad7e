#!/usr/bin/env python3
"""A TCP proxy that adds a one-way delay in each direction and counts HTTP requests: a
stand-in for a network round trip where `tc netem` is not available (this machine's kernel
has no netem qdisc). Each chunk read is forwarded `delay` seconds after it arrived, chunks in
flight overlap (latency, not a bandwidth cap), so an HTTP request pays 2 x delay per round
trip, as on a real network. Requests are counted by method from the client's byte stream
(HTTP/1.1 with Content-Length bodies, which is what the S3 clients here send).

usage: delay_proxy.py LISTEN_PORT TARGET_HOST TARGET_PORT DELAY_MS COUNTS_FILE [LOG_FILE]
The counts ({"GET": n, ...}) are written to COUNTS_FILE every second and at exit; with
LOG_FILE, every request line (method, path, Range) is appended to it.
"""
import asyncio
import json
import os
import signal
import sys
import time
from collections import Counter

COUNTS = Counter()
LOG = None


class RequestCounter:
    """Parses the client's stream just enough to count requests."""

    def __init__(self):
        self.buf = b""
        self.body_left = 0

    def feed(self, data):
        self.buf += data
        while True:
            if self.body_left:
                n = min(self.body_left, len(self.buf))
                self.buf = self.buf[n:]
                self.body_left -= n
                if self.body_left:
                    return
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                return
            head, self.buf = self.buf[:end], self.buf[end + 4:]
            lines = head.split(b"\r\n")
            COUNTS[lines[0].split(b" ", 1)[0].decode("latin-1")] += 1
            rng = b""
            for line in lines[1:]:
                k, _, v = line.partition(b":")
                if k.strip().lower() == b"content-length":
                    self.body_left = int(v.strip() or 0)
                if k.strip().lower() == b"range":
                    rng = v.strip()
            if LOG:
                LOG.write(f"{time.monotonic():.3f} {lines[0].decode('latin-1')} {rng.decode('latin-1')}\n")


async def pipe(reader, writer, delay, counter=None):
    queue = asyncio.Queue()

    async def send():
        while True:
            due, data = await queue.get()
            wait = due - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            if data is None:
                writer.close()
                return
            writer.write(data)
            await writer.drain()

    sender = asyncio.create_task(send())
    try:
        while True:
            data = await reader.read(65536)
            if counter is not None and data:
                counter.feed(data)
            await queue.put((time.monotonic() + delay, data or None))
            if not data:
                break
        await sender
    except (ConnectionError, asyncio.CancelledError):
        sender.cancel()
    finally:
        if not sender.done():
            sender.cancel()


async def main():
    global LOG
    port, host, tport, delay_ms, counts_file = sys.argv[1:6]
    if len(sys.argv) > 6:
        LOG = open(sys.argv[6], "a", buffering=1)
    delay = float(delay_ms) / 1000.0

    async def handle(cr, cw):
        try:
            sr, sw = await asyncio.open_connection(host, int(tport))
        except OSError:
            cw.close()
            return
        try:
            await asyncio.gather(pipe(cr, sw, delay, RequestCounter()), pipe(sr, cw, delay),
                                 return_exceptions=True)
        except asyncio.CancelledError:
            pass

    def dump():
        with open(counts_file, "w") as f:
            json.dump(dict(COUNTS), f)

    server = await asyncio.start_server(handle, "127.0.0.1", int(port))
    loop = asyncio.get_running_loop()
    stop = loop.create_future()
    for s in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(s, lambda: stop.done() or stop.set_result(None))

    async def tick():
        while True:
            await asyncio.sleep(1)
            dump()

    ticker = asyncio.create_task(tick())
    async with server:
        await stop
    ticker.cancel()
    server.close()
    dump()
    # Connections still open are dropped with the process, without a traceback each.
    os._exit(0)


if __name__ == "__main__":
    asyncio.run(main())
