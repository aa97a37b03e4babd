"""A real HTTP(S) server on loopback whose every answer a test scripts byte by byte."""

from __future__ import annotations

import contextlib
import socket
import ssl
import struct
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Seen:
    """One request as the server received it."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    server_name: str | None = None


@dataclass
class Exchange:
    sock: socket.socket
    request: Seen

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def respond(
        self,
        status: int = 200,
        body: bytes = b"ok",
        headers: dict[str, str] | None = None,
        *,
        length: bool = True,
    ) -> None:
        head = [f"HTTP/1.1 {status} Status"]
        extra = {"Connection": "close", **(headers or {})}
        if length:
            extra.setdefault("Content-Length", str(len(body)))
        head += [f"{k}: {v}" for k, v in extra.items()]
        self.send(("\r\n".join(head) + "\r\n\r\n").encode() + body)

    def reset(self) -> None:
        # Linger zero makes close() send RST instead of FIN.
        self.sock.setsockopt(
            socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
        )


Route = Callable[[Exchange], None]


@dataclass
class Upstream:
    host: str = "127.0.0.1"
    tls: ssl.SSLContext | None = None
    routes: dict[str, Route] = field(default_factory=dict)
    seen: list[Seen] = field(default_factory=list)
    port: int = 0
    raw: Route | None = None

    def __post_init__(self) -> None:
        self._listener = socket.create_server((self.host, 0))
        self.port = self._listener.getsockname()[1]
        self._stop = threading.Event()
        self._server_names: dict[int, str | None] = {}
        if self.tls is not None:
            self.tls.sni_callback = self._remember_sni
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def url(self, path: str = "/", host: str | None = None) -> str:
        scheme = "https" if self.tls else "http"
        return f"{scheme}://{host or self.host}:{self.port}{path}"

    def route(self, path: str) -> Callable[[Route], Route]:
        def register(fn: Route) -> Route:
            self.routes[path] = fn
            return fn

        return register

    def _remember_sni(self, sock: Any, name: str | None, _ctx: Any) -> None:
        self._server_names[id(sock)] = name

    def _serve(self) -> None:
        self._listener.settimeout(0.2)
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _handle(self, conn: socket.socket) -> None:
        with contextlib.suppress(OSError, ssl.SSLError):
            conn.settimeout(30)
            name = None
            if self.raw is not None and self.tls is None:
                self.raw(Exchange(conn, Seen("", "", {}, b"")))
                return
            if self.tls is not None:
                conn = self.tls.wrap_socket(conn, server_side=True)
                name = self._server_names.pop(id(conn), None)
            seen = self._read(conn)
            seen.server_name = name
            self.seen.append(seen)
            route = self.routes.get(seen.path.split("?")[0])
            exchange = Exchange(conn, seen)
            if route is None:
                exchange.respond(404, b"no route")
            else:
                route(exchange)
        with contextlib.suppress(OSError):
            conn.close()

    @staticmethod
    def _read(conn: socket.socket) -> Seen:
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = conn.recv(65536)
            if not chunk:
                break
            data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        method, path, _ = [*lines[0].split(" "), "", "", ""][:3]
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        length = int(headers.get("content-length", "0") or 0)
        while len(body) < length:
            chunk = conn.recv(65536)
            if not chunk:
                break
            body += chunk
        return Seen(method, path, headers, body)

    def close(self) -> None:
        self._stop.set()
        self._listener.close()


def trickle(exchange: Exchange, data: bytes, every: float, limit: float) -> str:
    """Send one byte at a time for `limit` seconds at most; say who stopped first."""
    ends = time.monotonic() + limit
    try:
        for byte in data:
            if time.monotonic() > ends:
                return "server"
            exchange.send(bytes([byte]))
            time.sleep(every)
    except OSError:
        return "client"
    return "server"


@contextlib.contextmanager
def serving(**kwargs: Any) -> Iterator[Upstream]:
    server = Upstream(**kwargs)
    try:
        yield server
    finally:
        server.close()
