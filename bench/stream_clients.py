"""Hold many notification streams open from one process (gevent: one greenlet and one socket per stream).

``python -m bench.stream_clients HOST PORT TOKENS_FILE`` opens one stream per token line, prints ``open N`` once
every stream has answered 200, then holds them until stdin closes. Used by bench/bench_scale.py.
"""

from gevent import monkey

monkey.patch_all()

import socket  # noqa: E402
import sys  # noqa: E402

import gevent  # noqa: E402

PATH = "/api/v1/notifications/stream"


def hold(host: str, port: int, token: str, opened: list, failed: list) -> None:
    try:
        sock = socket.create_connection((host, port), timeout=300)  # a loaded machine answers 2,000 slowly
        sock.sendall((f"GET {PATH} HTTP/1.1\r\nHost: {host}\r\nAccept: text/event-stream\r\n"
                      f"Authorization: Bearer {token}\r\n\r\n").encode())
        head = sock.recv(4096)
        if b" 200 " not in head.split(b"\r\n", 1)[0]:
            failed.append(head[:40])
            return
        opened.append(1)
        sock.settimeout(None)
        while sock.recv(65536):
            pass
    except OSError as exc:
        failed.append(repr(exc))


def main() -> None:
    host, port, tokens_file = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    tokens = [t.strip() for t in open(tokens_file) if t.strip()]
    opened, failed = [], []
    for i, token in enumerate(tokens):
        gevent.spawn(hold, host, port, token, opened, failed)
        if i % 100 == 99:
            gevent.sleep(0.05)  # a ramp, not a thundering herd
    while len(opened) + len(failed) < len(tokens):
        gevent.sleep(0.2)
    print(f"open {len(opened)} failed {len(failed)} {failed[:3]}", flush=True)
    gevent.get_hub().threadpool.spawn(sys.stdin.read).get()  # hold until the bench closes stdin


if __name__ == "__main__":
    main()
