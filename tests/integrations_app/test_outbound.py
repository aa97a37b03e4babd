from __future__ import annotations

import gzip
import ipaddress
import queue
import socket
import ssl
import time
import zlib
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import trustme

from integrations_app import outbound
from integrations_app.outbound import OutboundError
from tests.integrations_app.conftest import server_context
from tests.integrations_app.upstream import Exchange, trickle

# A server that ignored the deadline would keep the test this long and then
# answer successfully, so the assertions below would fail rather than hang.
TRICKLE_LIMIT = 20


def fails(kind: str, *args: Any, **kwargs: Any) -> OutboundError:
    with pytest.raises(OutboundError) as caught:
        outbound.request(*args, **kwargs)
    assert caught.value.kind == kind, caught.value.message
    return caught.value


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/",
        "http://127.1/",
        "http://2130706433/",
        "http://0x7f.0.0.1/",
        "http://0177.0.0.1/",
        "http://[::1]/",
        "http://[::ffff:127.0.0.1]/",
        "http://[::ffff:7f00:1]/",
        "http://10.0.0.1/",
        "http://172.16.5.4/",
        "http://192.168.1.1/",
        "http://100.64.0.1/",
        "http://0.0.0.0/",
        "http://[::]/",
        "http://224.0.0.1/",
        "http://240.0.0.1/",
        "http://255.255.255.255/",
        "http://169.254.169.254/latest/meta-data/",
        "http://[fe80::1]/",
        "http://[fd00:ec2::254]/",
        "http://[fc00::1]/",
        "http://[64:ff9b::a9fe:a9fe]/",
        "http://[2002:7f00:1::]/",
        "https://192.0.0.8/",
        "https://198.18.0.1/",
    ],
)
def test_it_refuses_addresses_outside_the_public_internet(url: str) -> None:
    error = fails("policy", "GET", url, timeout=2)

    assert "refused" in error.message


@pytest.mark.parametrize(
    "answer", [["10.1.2.3"], ["93.184.216.34", "127.0.0.1"], ["fd00::5"], ["::1"]]
)
def test_it_refuses_a_name_when_any_address_it_resolves_to_is_refused(
    fake_dns: Any, answer: list[str]
) -> None:
    fake_dns.names["internal.example.com"] = answer

    fails("policy", "GET", "https://internal.example.com/health", timeout=2)


@pytest.mark.parametrize("allowed", ["0.0.0.0/0", "169.254.0.0/15", "::/0"])
@pytest.mark.parametrize(
    "url", ["http://169.254.169.254/", "http://[fe80::a9fe:a9fe]/"]
)
def test_it_refuses_metadata_addresses_even_inside_a_broad_allowed_network(
    settings: Any, allowed: str, url: str
) -> None:
    settings.MONITOR_ALLOWED_NETWORKS = [ipaddress.ip_network(allowed)]

    fails("policy", "GET", url, timeout=2)


@pytest.mark.parametrize(
    "url",
    [
        "ftp://example.com/file",
        "file:///etc/passwd",
        "gopher://example.com/",
        "dict://127.0.0.1:11211/",
        "javascript:alert(1)",
    ],
)
def test_it_refuses_schemes_other_than_http_and_https(url: str) -> None:
    with pytest.raises(OutboundError) as caught:
        outbound.request("GET", url, timeout=2)

    assert caught.value.kind in {"policy", "invalid"}


def test_it_connects_to_the_address_it_checked_keeping_host_and_server_name(
    fake_dns: Any, allow_loopback: None, trust_ca: trustme.CA, upstream: Any
) -> None:
    server = upstream(tls=server_context(trust_ca, "status.example.com"))
    server.routes["/health"] = lambda ex: ex.respond(200, b"fine")
    fake_dns.names["status.example.com"] = ["127.0.0.1"]

    response = outbound.request(
        "GET", server.url("/health", host="status.example.com"), timeout=5
    )

    assert response.status_code == 200
    assert response.body == b"fine"
    assert fake_dns.lookups == ["status.example.com"]
    [seen] = server.seen
    assert seen.headers["host"] == f"status.example.com:{server.port}"
    assert seen.server_name == "status.example.com"


def test_it_does_not_look_the_name_up_again_when_connecting(
    fake_dns: Any, allow_loopback: None, upstream: Any, settings: Any
) -> None:
    server = upstream()
    server.routes["/"] = lambda ex: ex.respond(200)
    # Only the first answer is allowed: a second lookup would reach 10.9.9.9.
    answers = iter([["127.0.0.1"], ["10.9.9.9"]])

    def rebinding(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        if host == "rebind.example.com":
            fake_dns.names[host] = next(answers)
        return type(fake_dns).__call__(fake_dns, host, port, *args, **kwargs)

    socket.getaddrinfo = rebinding  # restored by the fake_dns fixture

    response = outbound.request("GET", server.url(host="rebind.example.com"))

    assert response.status_code == 200
    assert fake_dns.lookups == ["rebind.example.com"]


def test_it_times_each_phase_and_reads_the_certificate_expiry(
    fake_dns: Any, allow_loopback: None, trust_ca: trustme.CA, upstream: Any
) -> None:
    expires = datetime.now(UTC).replace(microsecond=0) + timedelta(days=40)
    server = upstream(
        tls=server_context(trust_ca, "timed.example.com", not_after=expires)
    )
    server.routes["/"] = lambda ex: ex.respond(200, b"x" * 1000)
    fake_dns.names["timed.example.com"] = ["127.0.0.1"]

    response = outbound.request("GET", server.url(host="timed.example.com"))

    timings = response.timings
    assert set(timings) == {"dns_ms", "connect_ms", "tls_ms", "total_ms"}
    assert all(isinstance(v, int) and v >= 0 for v in timings.values())
    assert timings["total_ms"] >= (timings["connect_ms"] or 0)
    assert response.elapsed_ms >= 0
    assert response.tls_expires_at is not None
    assert abs((response.tls_expires_at - expires).total_seconds()) <= 1


def test_a_plain_http_request_has_no_tls_timing(
    allow_loopback: None, upstream: Any
) -> None:
    server = upstream()
    server.routes["/"] = lambda ex: ex.respond(200)

    response = outbound.request("GET", server.url())

    assert response.timings["tls_ms"] is None
    assert response.timings["connect_ms"] is not None
    assert response.tls_expires_at is None


@pytest.mark.parametrize(
    "make, because",
    [
        (
            lambda ca: server_context(
                ca, "tls.example.com", not_after=datetime.now(UTC) - timedelta(days=1)
            ),
            "expired",
        ),
        (lambda ca: server_context(ca, "other.example.com"), "mismatch"),
        (lambda ca: server_context(trustme.CA(), "tls.example.com"), "issuer"),
        (lambda ca: _self_signed(), "self-signed"),
    ],
    ids=["expired", "wrong-host", "unknown-ca", "self-signed"],
)
def test_it_fails_tls_it_cannot_verify_and_says_why(
    fake_dns: Any,
    allow_loopback: None,
    trust_ca: trustme.CA,
    upstream: Any,
    make: Any,
    because: str,
) -> None:
    server = upstream(tls=make(trust_ca))
    server.routes["/"] = lambda ex: ex.respond(200)
    fake_dns.names["tls.example.com"] = ["127.0.0.1"]

    error = fails("tls", "GET", server.url(host="tls.example.com"), timeout=5)

    assert because in error.message.lower()


def _self_signed() -> ssl.SSLContext:
    # A CA's own certificate is self-signed; serving it as the leaf is the case.
    own = trustme.CA()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    with own.cert_pem.tempfile() as cert, own.private_key_pem.tempfile() as key:
        context.load_cert_chain(cert, key)
    return context


def _trickling(server: Any, head: bytes, data: bytes) -> queue.Queue[str]:
    stopped: queue.Queue[str] = queue.Queue()

    def slow(ex: Exchange) -> None:
        ex.send(head)
        stopped.put(trickle(ex, data, every=0.05, limit=TRICKLE_LIMIT))

    server.routes["/"] = slow
    return stopped


@pytest.mark.parametrize(
    "head, data",
    [
        (b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n", b"x" * 100000),
        (b"HTTP/1.1 200 OK\r\n", b"X-Slow: y\r\n" * 5000),
        (b"", b"HTTP/1.1 200 " + b"K" * 60000),
        (
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
            b"1\r\nx\r\n" * 10000,
        ),
    ],
    ids=["body", "headers", "status-line", "chunks"],
)
def test_a_trickling_server_cannot_hold_the_request_past_its_deadline(
    allow_loopback: None, upstream: Any, head: bytes, data: bytes
) -> None:
    server = upstream()
    stopped = _trickling(server, head, data)

    error = fails("timeout", "GET", server.url(), timeout=1)

    assert "in time" in error.message
    # The client hung up while the server was still trickling.
    assert stopped.get(timeout=TRICKLE_LIMIT + 5) == "client"


def test_a_trickling_tls_server_cannot_hold_the_request_either(
    fake_dns: Any, allow_loopback: None, trust_ca: trustme.CA, upstream: Any
) -> None:
    fake_dns.names["slow.example.com"] = ["127.0.0.1"]
    server = upstream(tls=server_context(trust_ca, "slow.example.com"))
    stopped = _trickling(
        server, b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n", b"x" * 100000
    )

    fails("timeout", "GET", server.url(host="slow.example.com"), timeout=1)

    assert stopped.get(timeout=TRICKLE_LIMIT + 5) == "client"


def test_a_server_that_accepts_and_stays_silent_times_out(
    allow_loopback: None, upstream: Any
) -> None:
    server = upstream()
    server.routes["/"] = lambda ex: time.sleep(5)

    fails("timeout", "GET", server.url(), timeout=1)


def test_a_server_that_never_finishes_the_tls_handshake_times_out(
    allow_loopback: None, upstream: Any
) -> None:
    server = upstream()
    server.raw = lambda ex: time.sleep(5)

    fails("timeout", "GET", server.url().replace("http:", "https:"), timeout=1)


@pytest.mark.parametrize(
    "answer, length",
    [
        (lambda ex: ex.respond(200, b"a" * 5_000_000), 65536),
        (lambda ex: ex.respond(200, b"a" * 5_000_000, length=False), 65536),
        (lambda ex: ex.respond(200, b"a" * 5_000_000, {"Content-Length": "10"}), 10),
        (
            lambda ex: ex.respond(
                200,
                b"".join(b"4000\r\n" + b"b" * 0x4000 + b"\r\n" for _ in range(100))
                + b"0\r\n\r\n",
                {"Transfer-Encoding": "chunked"},
                length=False,
            ),
            65536,
        ),
    ],
    ids=["declared", "undeclared", "lying-length", "chunked"],
)
def test_it_reads_at_most_64_kib_whatever_the_headers_claim(
    allow_loopback: None, upstream: Any, answer: Any, length: int
) -> None:
    server = upstream()
    server.routes["/"] = answer

    response = outbound.request("GET", server.url())

    assert len(response.body) == length
    assert response.truncated == (length == 65536)


@pytest.mark.parametrize(
    "encoding, compress",
    [
        ("gzip", gzip.compress),
        ("deflate", zlib.compress),
        ("deflate", lambda data: zlib.compress(data)[2:-4]),
    ],
    ids=["gzip", "deflate", "raw-deflate"],
)
def test_it_caps_a_compressed_body_after_decompressing_it(
    allow_loopback: None, upstream: Any, encoding: str, compress: Any
) -> None:
    bomb = compress(b"\0" * 50_000_000)
    server = upstream()
    server.routes["/"] = lambda ex: ex.respond(
        200, bomb, {"Content-Encoding": encoding}
    )

    response = outbound.request("GET", server.url(), timeout=10)

    assert len(bomb) < 100_000
    assert response.body == b"\0" * 65536
    assert response.truncated


def test_it_decodes_a_small_compressed_body_whole(
    allow_loopback: None, upstream: Any
) -> None:
    server = upstream()
    server.routes["/"] = lambda ex: ex.respond(
        200, gzip.compress(b'{"status": "ok"}'), {"Content-Encoding": "gzip"}
    )

    response = outbound.request("GET", server.url())

    assert response.body == b'{"status": "ok"}'
    assert not response.truncated


def test_a_refused_connection_is_told_apart(allow_loopback: None) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]

    error = fails("refused", "GET", f"http://127.0.0.1:{port}/?api_key=CANARY1")

    assert "refused" in error.message
    assert "CANARY1" not in error.message


def test_a_reset_connection_is_told_apart(allow_loopback: None, upstream: Any) -> None:
    server = upstream()
    server.routes["/"] = lambda ex: ex.reset()

    fails("reset", "GET", server.url())


def test_a_dns_failure_is_told_apart(fake_dns: Any) -> None:
    error = fails("dns", "GET", "https://no-such-host.example.com/health")

    assert "no-such-host.example.com" in error.message


@pytest.mark.parametrize(
    "answer, kind",
    [
        (b"SSH-2.0-OpenSSH_9.6\r\n", "invalid"),
        (b"HTTP/1.1 200 OK\r\n" + b"X-Big: y\r\n" * 200 + b"\r\n", "too_large"),
        (b"HTTP/1.1 200 OK\r\nX-Big: " + b"y" * 70000 + b"\r\n\r\n", "too_large"),
    ],
    ids=["not-http", "too-many-headers", "header-too-long"],
)
def test_malformed_answers_are_told_apart(
    allow_loopback: None, upstream: Any, answer: bytes, kind: str
) -> None:
    server = upstream()
    server.routes["/"] = lambda ex: ex.send(answer)

    fails(kind, "GET", server.url())


def test_it_follows_redirects_and_reports_where_it_ended(
    allow_loopback: None, upstream: Any
) -> None:
    server = upstream()
    for hop in range(5):
        server.routes[f"/r{hop}"] = lambda ex, hop=hop: ex.respond(
            302, b"", {"Location": f"/r{hop + 1}"}
        )
    server.routes["/r5"] = lambda ex: ex.respond(200, b"landed")

    response = outbound.request("GET", server.url("/r0"))

    assert response.body == b"landed"
    assert response.redirects == 5
    assert response.final_url.endswith("/r5")


def test_it_stops_after_five_redirects(allow_loopback: None, upstream: Any) -> None:
    server = upstream()
    server.routes["/loop"] = lambda ex: ex.respond(302, b"", {"Location": "/loop"})

    fails("redirects", "GET", server.url("/loop"))

    assert len(server.seen) == 6


def test_it_can_leave_redirects_to_the_caller(
    allow_loopback: None, upstream: Any
) -> None:
    server = upstream()
    server.routes["/"] = lambda ex: ex.respond(301, b"", {"Location": "/elsewhere"})

    response = outbound.request("GET", server.url(), follow_redirects=False)

    assert response.status_code == 301


@pytest.mark.parametrize(
    "target",
    [
        "http://127.0.0.1:{port}/",
        "http://localhost.example.com:{port}/",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]:{port}/",
        "http://2130706433:{port}/",
        "file:///etc/passwd",
    ],
)
def test_every_redirect_hop_is_guarded_again(
    settings: Any, fake_dns: Any, upstream: Any, target: str
) -> None:
    # The first hop is allowed; only 127.0.0.2 is listed, so nothing else on
    # loopback is.
    settings.MONITOR_ALLOWED_NETWORKS = [ipaddress.ip_network("127.0.0.2/32")]
    fake_dns.names["localhost.example.com"] = ["127.0.0.1"]
    inner = upstream(host="127.0.0.1")
    inner.routes["/"] = lambda ex: ex.respond(200, b"secret internals")
    outer = upstream(host="127.0.0.2")
    outer.routes["/"] = lambda ex: ex.respond(
        302, b"", {"Location": target.format(port=inner.port)}
    )

    with pytest.raises(OutboundError) as caught:
        outbound.request("GET", outer.url())

    assert caught.value.kind in {"policy", "invalid"}
    assert inner.seen == []


def test_credentials_are_dropped_when_a_redirect_changes_host(
    fake_dns: Any, allow_loopback: None, upstream: Any
) -> None:
    fake_dns.names["a.example.com"] = ["127.0.0.1"]
    fake_dns.names["b.example.com"] = ["127.0.0.1"]
    second = upstream()
    second.routes["/landing"] = lambda ex: ex.respond(200)
    first = upstream()
    first.routes["/same"] = lambda ex: ex.respond(
        307, b"", {"Location": first.url("/cross", host="a.example.com")}
    )
    first.routes["/cross"] = lambda ex: ex.respond(
        307, b"", {"Location": second.url("/landing", host="b.example.com")}
    )

    outbound.request(
        "POST",
        first.url("/same", host="a.example.com"),
        headers={"X-Api-Key": "CANARY-KEY", "X-Custom": "CANARY-CUSTOM"},
        auth=("user", "CANARY-PASSWORD"),
        body=b"payload",
    )

    same, cross = first.seen
    assert same.headers["x-api-key"] == cross.headers["x-api-key"] == "CANARY-KEY"
    assert cross.headers["authorization"].startswith("Basic ")
    assert cross.method == "POST" and cross.body == b"payload"
    [landed] = second.seen
    assert "authorization" not in landed.headers
    assert "x-api-key" not in landed.headers
    assert "x-custom" not in landed.headers
    assert landed.headers["user-agent"] == outbound.USER_AGENT


@pytest.mark.parametrize("code, method", [(303, "GET"), (302, "GET"), (308, "POST")])
def test_redirects_change_the_method_as_browsers_do(
    allow_loopback: None, upstream: Any, code: int, method: str
) -> None:
    server = upstream()
    server.routes["/form"] = lambda ex: ex.respond(code, b"", {"Location": "/next"})
    server.routes["/next"] = lambda ex: ex.respond(200)

    outbound.request("POST", server.url("/form"), json={"a": 1})

    assert server.seen[1].method == method
    assert (server.seen[1].body == b'{"a": 1}') == (method == "POST")


def test_a_bad_url_is_invalid_not_a_crash() -> None:
    for url in ["http://", "http://exa mple.com/", "://nothing", "http://[::1/"]:
        with pytest.raises(OutboundError) as caught:
            outbound.request("GET", url)
        assert caught.value.kind in {"invalid", "policy"}
