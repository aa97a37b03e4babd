"""The one way out to the network: guarded, pinned, deadlined HTTP requests.

Every request resolves its host itself, refuses addresses the policy does not
allow, connects to exactly the address it checked (keeping the Host header and
the TLS server name), follows redirects hop by hop under the same rules, and
gives up when one deadline for the whole exchange passes.
"""

from __future__ import annotations

import base64
import contextlib
import heapq
import itertools
import json as jsonlib
import logging
import os
import socket
import ssl
import threading
import time
import zlib
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.client import HTTPException, LineTooLong
from typing import Any, cast
from urllib.parse import urljoin, urlsplit

import requests
from django.conf import settings
from requests.adapters import HTTPAdapter
from requests.structures import CaseInsensitiveDict
from urllib3 import PoolManager
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import ConnectTimeoutError, NewConnectionError
from urllib3.util import connection as u3connection

from integrations_app import addresses

logger = logging.getLogger(__name__)

MAX_REDIRECTS = 5
MAX_BODY = 65536
USER_AGENT = "integration-monitor/1.0"
REDIRECT_CODES = frozenset({301, 302, 303, 307, 308})

# Headers that carry nothing secret and may follow a redirect to another host.
_PORTABLE_HEADERS = frozenset(
    {"accept", "accept-encoding", "accept-language", "user-agent", "content-type"}
)
_KINDS = frozenset(
    {
        "dns",
        "refused",
        "reset",
        "timeout",
        "tls",
        "policy",
        "redirects",
        "too_large",
        "invalid",
        "error",
    }
)


class OutboundError(Exception):
    """A request that got no usable answer; `kind` says which way it failed."""

    def __init__(self, kind: str, message: str) -> None:
        if kind not in _KINDS:
            raise ValueError(f"unknown failure kind {kind!r}")
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.timings: dict[str, int | None] = {}


@dataclass
class OutboundResponse:
    status_code: int
    headers: CaseInsensitiveDict[str]
    body: bytes
    elapsed_ms: int
    timings: dict[str, int | None]
    tls_expires_at: datetime | None
    final_url: str
    truncated: bool = False
    redirects: int = 0

    @property
    def text(self) -> str:
        """Decode the body by its declared charset, replacing what does not decode."""
        charset = "utf-8"
        for part in self.headers.get("content-type", "").split(";")[1:]:
            name, _, value = part.strip().partition("=")
            if name.lower() == "charset" and value:
                charset = value.strip("\"' ")
        try:
            return self.body.decode(charset, errors="replace")
        except LookupError:
            return self.body.decode("utf-8", errors="replace")


@dataclass
class _Probe:
    """What one request learns about its connections, and its deadline."""

    deadline: float
    dns_ms: float = 0.0
    connect_ms: float | None = None
    tls_ms: float | None = None
    tls_expires_at: datetime | None = None
    expired: threading.Event = field(default_factory=threading.Event)

    def remaining(self) -> float:
        return self.deadline - time.monotonic()

    def add(self, name: str, seconds: float) -> None:
        setattr(self, name, (getattr(self, name) or 0.0) + seconds * 1000)


class _Watchdog:
    """Shut the sockets whose deadline passed, so a blocked read returns at once.

    Per-operation socket timeouts cannot stop a server that sends one byte a
    second; shutting the socket down from this thread can. Sockets are held by
    descriptor because TLS wrapping detaches the original socket object; every
    close forgets its descriptor first, under the same lock, so a reused
    descriptor is never touched.
    """

    def __init__(self) -> None:
        self._lock = threading.Condition()
        self._heap: list[tuple[float, int]] = []
        self._watched: dict[int, tuple[int, _Probe]] = {}
        self._tokens = itertools.count(1)
        self._thread: threading.Thread | None = None

    def watch(self, fd: int, probe: _Probe) -> int:
        with self._lock:
            token = next(self._tokens)
            self._watched[token] = (fd, probe)
            heapq.heappush(self._heap, (probe.deadline, token))
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._run, name="outbound-watchdog", daemon=True
                )
                self._thread.start()
            self._lock.notify()
            return token

    def forget(self, token: int) -> None:
        with self._lock:
            self._watched.pop(token, None)

    def _run(self) -> None:
        with self._lock:
            while True:
                while self._heap and self._heap[0][1] not in self._watched:
                    heapq.heappop(self._heap)
                if not self._heap:
                    self._lock.wait()
                    continue
                deadline, token = self._heap[0]
                wait = deadline - time.monotonic()
                if wait > 0:
                    self._lock.wait(wait)
                    continue
                heapq.heappop(self._heap)
                fd, probe = self._watched.pop(token)
                probe.expired.set()
                _shut(fd)

    def reset(self) -> None:
        self._lock = threading.Condition()
        self._heap = []
        self._watched = {}
        self._thread = None


def _shut(fd: int) -> None:
    try:
        sock = socket.socket(fileno=fd)
    except OSError:
        return
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    finally:
        sock.detach()


class _NoQueryStrings(logging.Filter):
    """Keep query strings, which may carry API keys, out of the library's log."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(
                arg.split("?", 1)[0] + "?..."
                if isinstance(arg, str) and "?" in arg
                else arg
                for arg in record.args
            )
        return True


logging.getLogger("urllib3.connectionpool").addFilter(_NoQueryStrings())

_watchdog = _Watchdog()
# getaddrinfo has no timeout of its own: lookups run here so the caller can stop
# waiting at its deadline.
_resolver = ThreadPoolExecutor(max_workers=16, thread_name_prefix="outbound-dns")


def _after_fork() -> None:
    global _resolver
    _watchdog.reset()
    _resolver = ThreadPoolExecutor(max_workers=16, thread_name_prefix="outbound-dns")


os.register_at_fork(after_in_child=_after_fork)


class _PinnedMixin:
    """Connect to the vetted address instead of resolving the host again."""

    _pinned: str
    _probe: _Probe
    _token: int | None
    port: int
    timeout: Any
    source_address: Any
    socket_options: Any
    host: str

    def _new_conn(self) -> socket.socket:
        started = time.perf_counter()
        try:
            sock = u3connection.create_connection(
                (self._pinned, self.port),
                self.timeout,
                source_address=self.source_address,
                socket_options=self.socket_options,
            )
        except TimeoutError as exc:
            raise ConnectTimeoutError(
                cast(HTTPConnection, self), "connect timed out"
            ) from exc
        except OSError as exc:
            raise NewConnectionError(
                cast(HTTPConnection, self), f"connect failed: {exc}"
            ) from exc
        self._probe.add("connect_ms", time.perf_counter() - started)
        self._token = _watchdog.watch(sock.fileno(), self._probe)
        return sock

    def _forget(self) -> None:
        if self._token is not None:
            _watchdog.forget(self._token)
            self._token = None


class _PinnedHTTPConnection(_PinnedMixin, HTTPConnection):
    def __init__(self, *args: Any, pinned: str, probe: _Probe, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self._pinned, self._probe, self._token = pinned, probe, None

    def close(self) -> None:
        self._forget()
        super().close()


class _PinnedHTTPSConnection(_PinnedMixin, HTTPSConnection):
    def __init__(self, *args: Any, pinned: str, probe: _Probe, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self._pinned, self._probe, self._token = pinned, probe, None

    def connect(self) -> None:
        started = time.perf_counter()
        connect_before = self._probe.connect_ms or 0.0
        super().connect()
        spent = (time.perf_counter() - started) * 1000
        self._probe.tls_ms = (self._probe.tls_ms or 0.0) + max(
            0.0, spent - ((self._probe.connect_ms or 0.0) - connect_before)
        )
        sock = self.sock
        if isinstance(sock, ssl.SSLSocket):
            cert = sock.getpeercert()
            not_after = cert.get("notAfter") if cert else None
            if isinstance(not_after, str):
                seconds = ssl.cert_time_to_seconds(not_after)
                self._probe.tls_expires_at = datetime.fromtimestamp(seconds, tz=UTC)

    def close(self) -> None:
        self._forget()
        super().close()


class _PinnedHTTPPool(HTTPConnectionPool):
    ConnectionCls = _PinnedHTTPConnection


class _PinnedHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _PinnedHTTPSConnection


class _PinnedPoolManager(PoolManager):
    def __init__(self, pinned: str, probe: _Probe, **kw: Any) -> None:
        super().__init__(**kw)
        self.pool_classes_by_scheme = {  # type: ignore[assignment]
            "http": _PinnedHTTPPool,
            "https": _PinnedHTTPSPool,
        }
        self._pinned, self._probe = pinned, probe

    def _new_pool(
        self,
        scheme: str,
        host: str,
        port: int,
        request_context: dict[str, Any] | None = None,
    ) -> HTTPConnectionPool:
        pool = super()._new_pool(scheme, host, port, request_context)
        pool.conn_kw.update(pinned=self._pinned, probe=self._probe)
        return pool


class PinnedAdapter(HTTPAdapter):
    """A transport adapter whose every connection goes to one vetted address.

    `send` is the library's own, so test doubles that replace it see every
    request this module makes.
    """

    def __init__(self, pinned: str, probe: _Probe) -> None:
        self._pinned, self._probe = pinned, probe
        super().__init__(pool_connections=1, pool_maxsize=1, max_retries=0)

    def init_poolmanager(
        self, connections: int, maxsize: int, block: bool = False, **kw: Any
    ) -> None:
        self.poolmanager = _PinnedPoolManager(
            self._pinned,
            self._probe,
            num_pools=connections,
            maxsize=maxsize,
            block=block,
            **kw,
        )


def _resolve(host: str, port: int, probe: _Probe) -> str:
    """Resolve a host and vet every address; answer the one to connect to."""
    literal = addresses.parse_literal(host)
    if literal is not None:
        found = [literal]
    else:
        started = time.perf_counter()
        future = _resolver.submit(socket.getaddrinfo, host, port, 0, socket.SOCK_STREAM)
        try:
            infos = future.result(timeout=max(probe.remaining(), 0.001))
        except FutureTimeout:
            probe.add("dns_ms", time.perf_counter() - started)
            raise OutboundError(
                "timeout", f"DNS lookup of {host} did not finish in time"
            ) from None
        except (socket.gaierror, UnicodeError) as exc:
            probe.add("dns_ms", time.perf_counter() - started)
            reason = exc.strerror if isinstance(exc, socket.gaierror) else None
            raise OutboundError(
                "dns", f"DNS lookup of {host} failed: {reason or 'no such host'}"
            ) from None
        probe.add("dns_ms", time.perf_counter() - started)
        found = []
        for info in infos:
            parsed = addresses.parse_literal(str(info[4][0]))
            if parsed is not None and parsed not in found:
                found.append(parsed)
        if not found:
            raise OutboundError("dns", f"DNS lookup of {host} returned no address")

    for address in found:
        reason = addresses.refusal(address)
        if reason:
            raise OutboundError("policy", f"{host}: {reason}")
    return str(found[0])


def _origin(url: str) -> tuple[str, str, int]:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    port = parts.port or (443 if scheme == "https" else 80)
    return scheme, (parts.hostname or "").lower(), port


def _keeps_credentials(old: str, new: str) -> bool:
    """Tell whether a redirect stays with the party the credentials were meant for."""
    (old_scheme, old_host, old_port), (new_scheme, new_host, new_port) = (
        _origin(old),
        _origin(new),
    )
    if old_host != new_host:
        return False
    if (old_scheme, old_port) == (new_scheme, new_port):
        return True
    # An upgrade to https on the default ports is still the same service.
    return (old_scheme, old_port, new_scheme, new_port) == ("http", 80, "https", 443)


def _prepare(
    method: str,
    url: str,
    headers: Mapping[str, str],
    params: Any,
    data: bytes | None,
) -> requests.PreparedRequest:
    try:
        prepared = requests.Request(
            method=method, url=url, headers=dict(headers), params=params, data=data
        ).prepare()
    except (requests.exceptions.InvalidURL, requests.exceptions.MissingSchema):
        raise OutboundError("invalid", "the URL is not valid") from None
    except requests.exceptions.InvalidHeader:
        raise OutboundError(
            "invalid", "a header name or value is not allowed (CR, LF or NUL)"
        ) from None
    except (requests.exceptions.RequestException, ValueError, UnicodeError):
        raise OutboundError("invalid", "the request could not be built") from None
    return prepared


class _Decoder:
    """Undo gzip or deflate, never producing more than the caller asks for."""

    def __init__(self, encoding: str) -> None:
        self.encoding = encoding
        self._first = True
        self._zlib: Any = None
        if encoding == "gzip":
            self._zlib = zlib.decompressobj(16 + zlib.MAX_WBITS)
        elif encoding == "deflate":
            self._zlib = zlib.decompressobj()

    def feed(self, data: bytes, limit: int) -> bytes:
        if self._zlib is None:
            return data[:limit]
        try:
            return bytes(self._zlib.decompress(data, limit))
        except zlib.error:
            if self.encoding == "deflate" and self._first:
                # Some servers send raw deflate without the zlib wrapper.
                self._zlib = zlib.decompressobj(-zlib.MAX_WBITS)
                self._first = False
                return self.feed(data, limit)
            raise OutboundError(
                "invalid", f"the body is not valid {self.encoding} data"
            ) from None
        finally:
            self._first = False


def _read_body(
    response: requests.Response, probe: _Probe, cap: int
) -> tuple[bytes, bool]:
    """Read at most `cap` bytes of decoded body; say whether more was left."""
    raw = response.raw
    encoding = response.headers.get("content-encoding", "").strip().lower()
    decoder = _Decoder(encoding if encoding in {"gzip", "deflate"} else "identity")
    body = bytearray()
    raw_total = 0
    while True:
        if probe.remaining() <= 0:
            probe.expired.set()
            raise OutboundError("timeout", "the body did not arrive in time")
        _set_read_timeout(response, probe)
        chunk = raw.read1(16384, decode_content=False)
        if probe.expired.is_set():
            raise OutboundError("timeout", "the body did not arrive in time")
        if not chunk:
            return bytes(body), False
        raw_total += len(chunk)
        body += decoder.feed(chunk, cap + 1 - len(body))
        if len(body) > cap:
            return bytes(body[:cap]), True
        if raw_total > 16 * cap:
            # Compressed data that never decodes to anything is not a body.
            return bytes(body), True


def _set_read_timeout(response: requests.Response, probe: _Probe) -> None:
    connection = getattr(response.raw, "connection", None)
    sock = getattr(connection, "sock", None)
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.settimeout(max(probe.remaining(), 0.001))


def _chain(exc: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    todo: list[BaseException | None] = [exc]
    while todo:
        item = todo.pop()
        if item is None or any(item is s for s in seen) or len(seen) > 20:
            continue
        seen.append(item)
        todo.extend([item.__cause__, item.__context__])
        todo.extend(
            a for a in getattr(item, "args", ()) if isinstance(a, BaseException)
        )
        reason = getattr(item, "reason", None)
        if isinstance(reason, BaseException):
            todo.append(reason)
    return seen


def _classify(exc: BaseException, probe: _Probe, where: str) -> OutboundError:
    """Turn a library failure into plain words, naming no URL, query or header."""
    if isinstance(exc, OutboundError):
        return exc
    chain = _chain(exc)
    if probe.expired.is_set() or probe.remaining() <= 0:
        return OutboundError("timeout", f"{where} gave no complete answer in time")
    for item in chain:
        if isinstance(item, ssl.SSLCertVerificationError):
            why = item.verify_message or "the certificate is not trusted"
            return OutboundError("tls", f"TLS verification failed for {where}: {why}")
    for item in chain:
        if isinstance(item, ssl.SSLError) and not isinstance(item, ssl.SSLEOFError):
            why = item.reason or "handshake failed"
            return OutboundError("tls", f"TLS failed with {where}: {why}")
    for item in chain:
        if isinstance(item, ConnectionRefusedError):
            return OutboundError("refused", f"{where} refused the connection")
    for item in chain:
        if isinstance(
            item, TimeoutError | requests.exceptions.Timeout | ConnectTimeoutError
        ):
            return OutboundError("timeout", f"{where} gave no complete answer in time")
    for item in chain:
        if isinstance(item, LineTooLong) or "more than 100 headers" in str(item):
            return OutboundError(
                "too_large", f"{where} sent headers that are too large"
            )
    for item in chain:
        if isinstance(
            item,
            ConnectionResetError
            | ConnectionAbortedError
            | BrokenPipeError
            | ssl.SSLEOFError,
        ) or type(item).__name__ in {"RemoteDisconnected", "IncompleteRead"}:
            return OutboundError("reset", f"{where} closed the connection early")
    for item in chain:
        if isinstance(item, HTTPException):
            return OutboundError("invalid", f"{where} sent an answer that is not HTTP")
    for item in chain:
        if isinstance(item, OSError) and item.errno is not None:
            return OutboundError(
                "error", f"could not reach {where}: {os.strerror(item.errno)}"
            )
    return OutboundError("error", f"request to {where} failed ({type(exc).__name__})")


def request(
    method: str,
    url: str,
    *,
    headers: Mapping[str, str] | None = None,
    params: Any = None,
    body: bytes | str | None = None,
    json: Any = None,
    timeout: float = 10.0,
    max_body: int = MAX_BODY,
    follow_redirects: bool = True,
    auth: tuple[str, str] | None = None,
) -> OutboundResponse:
    """Make one guarded HTTP request; raise OutboundError when it gets no answer."""
    started = time.perf_counter()
    probe = _Probe(deadline=time.monotonic() + max(float(timeout), 0.001))
    method = method.upper()

    sent: dict[str, str] = {
        "User-Agent": USER_AGENT,
        "Accept": "*/*",
        "Accept-Encoding": "gzip, deflate",
    }
    sent.update(headers or {})
    if auth is not None:
        pair = f"{auth[0]}:{auth[1]}".encode()
        sent["Authorization"] = "Basic " + base64.b64encode(pair).decode()
    data: bytes | None
    if json is not None:
        data = jsonlib.dumps(json).encode()
        sent.setdefault("Content-Type", "application/json")
    else:
        data = body.encode() if isinstance(body, str) else body

    current, query = url, params
    hops = 0
    adapters: list[PinnedAdapter] = []
    try:
        while True:
            response, adapter = _hop(method, current, sent, query, data, probe)
            adapters.append(adapter)
            location = response.headers.get("location")
            if (
                not follow_redirects
                or response.status_code not in REDIRECT_CODES
                or not location
            ):
                break
            response.close()
            adapter.close()
            hops += 1
            if hops > MAX_REDIRECTS:
                raise OutboundError("redirects", f"more than {MAX_REDIRECTS} redirects")
            target = urljoin(response.url or current, location.strip())
            if urlsplit(target).scheme.lower() not in {"http", "https"}:
                raise OutboundError(
                    "policy", "a redirect led to a scheme other than http or https"
                )
            if not _keeps_credentials(current, target):
                sent = {k: v for k, v in sent.items() if k.lower() in _PORTABLE_HEADERS}
            if response.status_code == 303 or (
                response.status_code in {301, 302} and method == "POST"
            ):
                method, data = ("HEAD" if method == "HEAD" else "GET"), None
                sent.pop("Content-Type", None)
            current, query = target, None

        try:
            content, truncated = (
                (b"", False)
                if method == "HEAD"
                else _read_body(response, probe, max_body)
            )
        except OutboundError:
            raise
        except Exception as exc:
            raise _classify(exc, probe, _where(current)) from None
        finally:
            response.close()
    except OutboundError as exc:
        exc.timings = _timings(probe, started)
        raise
    finally:
        for adapter in adapters:
            adapter.close()

    return OutboundResponse(
        status_code=response.status_code,
        headers=response.headers,
        body=content,
        elapsed_ms=round((time.perf_counter() - started) * 1000),
        timings=_timings(probe, started),
        tls_expires_at=probe.tls_expires_at,
        final_url=current,
        truncated=truncated,
        redirects=hops,
    )


def _where(url: str) -> str:
    scheme, host, port = _origin(url)
    default = 443 if scheme == "https" else 80
    return host if port == default else f"{host}:{port}"


def _hop(
    method: str,
    url: str,
    headers: Mapping[str, str],
    params: Any,
    data: bytes | None,
    probe: _Probe,
) -> tuple[requests.Response, PinnedAdapter]:
    prepared = _prepare(method, url, headers, params, data)
    scheme, host, port = _origin(prepared.url or "")
    if scheme not in {"http", "https"}:
        raise OutboundError("policy", "only http and https URLs may be requested")
    if not host:
        raise OutboundError("invalid", "the URL names no host")

    pinned = _resolve(host, port, probe)
    remaining = probe.remaining()
    if remaining <= 0:
        raise OutboundError("timeout", f"{_where(url)} gave no complete answer in time")

    adapter = PinnedAdapter(pinned, probe)
    try:
        response = adapter.send(
            prepared,
            stream=True,
            timeout=(remaining, remaining),
            verify=settings.MONITOR_CA_BUNDLE or True,
            proxies={},
        )
    except Exception as exc:
        adapter.close()
        raise _classify(exc, probe, _where(url)) from None
    return response, adapter


def _timings(probe: _Probe, started: float) -> dict[str, int | None]:
    def ms(value: float | None) -> int | None:
        return None if value is None else round(value)

    return {
        "dns_ms": ms(probe.dns_ms),
        "connect_ms": ms(probe.connect_ms),
        "tls_ms": ms(probe.tls_ms),
        "total_ms": round((time.perf_counter() - started) * 1000),
    }
