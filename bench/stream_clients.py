"""Hold many notification streams open from one process, as cheaply as the machine allows: asyncio on raw sockets,
one coroutine and one socket per stream, no HTTP library (the load generator must not be what the 2 cores spend their
time on: the bench prints this process's CPU use beside the servers').

``python -m bench.stream_clients HOST PORT TOKENS_FILE`` opens one stream per token line (ramped, 100 at a time),
prints ``open N failed M [...]`` once every stream has answered, then holds them (reading and discarding keep-alives)
until stdin closes.
"""

from __future__ import annotations

import asyncio
import sys

PATH = "/api/v1/notifications/stream"


async def hold(host: str, port: int, token: str, opened: list, failed: list, done: asyncio.Event) -> None:
    try:
        reader, writer = await asyncio.open_connection(host, port)
        writer.write((f"GET {PATH} HTTP/1.1\r\nHost: {host}\r\nAccept: text/event-stream\r\n"
                      f"Authorization: Bearer {token}\r\n\r\n").encode())
        head = await asyncio.wait_for(reader.readline(), 300)  # a loaded machine answers 2,000 slowly
    except (OSError, TimeoutError) as exc:
        failed.append(repr(exc))
        return
    if b" 200 " not in head:
        failed.append(head[:40])
        writer.close()
        return
    opened.append(1)
    try:
        while not done.is_set() and await reader.read(65536):
            pass
    except OSError:
        pass
    writer.close()


async def main() -> None:
    host, port, tokens_file = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    tokens = [t.strip() for t in open(tokens_file) if t.strip()]
    opened, failed, done = [], [], asyncio.Event()
    tasks = []
    for i, token in enumerate(tokens):
        tasks.append(asyncio.create_task(hold(host, port, token, opened, failed, done)))
        if i % 100 == 99:
            await asyncio.sleep(0.05)  # a ramp, not a thundering herd
    while len(opened) + len(failed) < len(tokens):
        await asyncio.sleep(0.2)
    print(f"open {len(opened)} failed {len(failed)} {failed[:3]}", flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)  # hold until the bench closes stdin
    done.set()


if __name__ == "__main__":
    asyncio.run(main())
