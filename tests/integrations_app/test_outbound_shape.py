"""What goes out and what comes back, with the third party faked by `responses`."""

from __future__ import annotations

import json
from typing import Any

import pytest
import requests
import responses
from responses import matchers

from integrations_app import outbound
from integrations_app.outbound import OutboundError


@responses.activate
def test_it_sends_headers_query_and_json_as_given(public_dns: Any) -> None:
    responses.post(
        "https://api.example.com/v1/ping",
        json={"pong": True},
        match=[
            matchers.query_param_matcher({"region": "eu"}),
            matchers.header_matcher({"X-Team": "payments", "Accept": "*/*"}),
            matchers.json_params_matcher({"probe": 1}),
        ],
    )

    response = outbound.request(
        "post",
        "https://api.example.com/v1/ping",
        headers={"X-Team": "payments"},
        params={"region": "eu"},
        json={"probe": 1},
    )

    assert response.status_code == 200
    assert json.loads(response.text) == {"pong": True}
    assert response.headers["content-type"] == "application/json"
    sent = responses.calls[0].request
    assert sent.headers["User-Agent"] == outbound.USER_AGENT
    assert sent.headers["Content-Type"] == "application/json"


@responses.activate
def test_basic_auth_becomes_an_authorization_header(public_dns: Any) -> None:
    responses.get("https://api.example.com/", body="ok")

    outbound.request("GET", "https://api.example.com/", auth=("ann", "s3cret"))

    assert (
        responses.calls[0].request.headers["Authorization"] == "Basic YW5uOnMzY3JldA=="
    )


@responses.activate
@pytest.mark.parametrize("body", [b"raw bytes", "text body"])
def test_a_body_is_sent_as_given(public_dns: Any, body: bytes | str) -> None:
    responses.put("https://api.example.com/item", body="")

    outbound.request("PUT", "https://api.example.com/item", body=body)

    sent = responses.calls[0].request.body
    assert (sent if isinstance(sent, bytes) else sent.encode()) == (
        body if isinstance(body, bytes) else body.encode()
    )


@responses.activate
@pytest.mark.parametrize(
    "content_type, body, text",
    [
        ("text/plain; charset=latin-1", "caf\xe9".encode("latin-1"), "café"),
        ("text/plain", b"\xff\xfe broken", "\ufffd\ufffd broken"),
        ("text/plain; charset=no-such", b"plain", "plain"),
    ],
)
def test_text_decodes_by_charset_and_never_raises(
    public_dns: Any, content_type: str, body: bytes, text: str
) -> None:
    responses.get("https://api.example.com/", body=body, content_type=content_type)

    response = outbound.request("GET", "https://api.example.com/")

    assert response.text == text


@responses.activate
def test_redirects_are_followed_by_our_code_each_hop_resolved(
    public_dns: Any,
) -> None:
    responses.get(
        "https://api.example.com/old",
        status=301,
        headers={"Location": "https://cdn.example.net/new"},
    )
    responses.get("https://cdn.example.net/new", body="moved")

    response = outbound.request(
        "GET", "https://api.example.com/old", headers={"Authorization": "Bearer t0k"}
    )

    assert response.body == b"moved"
    assert response.final_url == "https://cdn.example.net/new"
    assert public_dns.lookups == ["api.example.com", "cdn.example.net"]
    assert "Authorization" not in responses.calls[1].request.headers


@responses.activate
def test_a_failure_reported_by_the_library_is_classified(public_dns: Any) -> None:
    responses.get(
        "https://api.example.com/",
        body=requests.exceptions.ConnectionError(ConnectionRefusedError(111, "no")),
    )

    with pytest.raises(OutboundError) as caught:
        outbound.request("GET", "https://api.example.com/")

    assert caught.value.kind == "refused"


@pytest.mark.parametrize(
    "headers",
    [{"X-Evil": "a\r\nInjected: yes"}, {"X-Evil\r\nInjected": "yes"}, {"X": "a\nb"}],
)
def test_header_injection_is_refused_before_anything_is_sent(
    public_dns: Any, headers: dict[str, str]
) -> None:
    with responses.RequestsMock() as mock:
        with pytest.raises(OutboundError) as caught:
            outbound.request("GET", "https://api.example.com/", headers=headers)

        assert caught.value.kind == "invalid"
        assert len(mock.calls) == 0
