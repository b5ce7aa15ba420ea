"""The background server over real HTTP and HTTPS: ephemeral ports, the generated CA accepted by
httpx and requests, and a dropped connection seen by the client as a dead connection."""

from __future__ import annotations

import json
import logging
import ssl
from pathlib import Path

import httpx
import pytest
import requests
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from crmsync.emulators.common.faults import Fault, FaultMiddleware, FaultPlan
from crmsync.emulators.common.server import BackgroundServer
from crmsync.emulators.common.tls import TlsFiles, generate


async def hello(request: Request) -> JSONResponse:
    return JSONResponse({"scheme": request.url.scheme})


def make_app(plan: FaultPlan) -> FaultMiddleware:
    return FaultMiddleware(
        Starlette(routes=[Route("/hello", hello)]),
        plan,
        error_body=lambda status: (json.dumps({"status": status}).encode(), "application/json"),
    )


def ctx(tls: TlsFiles) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=tls.ca)


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    return generate([]).write(tmp_path_factory.mktemp("tls"))


def test_plain_http_on_an_ephemeral_port() -> None:
    with BackgroundServer(make_app(FaultPlan())) as server:
        assert server.port > 0
        assert server.url == f"http://127.0.0.1:{server.port}"
        assert httpx.get(f"{server.url}/hello").json() == {"scheme": "http"}
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{server.url}/hello")


def test_https_is_trusted_through_the_ca_file(tls: TlsFiles) -> None:
    with BackgroundServer(make_app(FaultPlan()), tls=tls) as server:
        assert server.url.startswith("https://127.0.0.1:")
        assert httpx.get(f"{server.url}/hello", verify=ctx(tls)).json() == {"scheme": "https"}
        assert requests.get(f"{server.url}/hello", verify=str(tls.ca), timeout=5).ok
        localhost = server.url.replace("127.0.0.1", "localhost")
        assert httpx.get(f"{localhost}/hello", verify=ctx(tls)).status_code == 200
        with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
            httpx.get(f"{server.url}/hello")


def test_ipv6_loopback(tls: TlsFiles) -> None:
    try:
        server = BackgroundServer(make_app(FaultPlan()), host="::1", tls=tls).__enter__()
    except RuntimeError:
        pytest.skip("no IPv6 loopback here")
    try:
        assert server.url.startswith("https://[::1]:")
        assert httpx.get(f"{server.url}/hello", verify=ctx(tls)).status_code == 200
    finally:
        server.stop()


def test_dropped_connection_reaches_the_client_without_a_traceback(
    tls: TlsFiles,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    plan = FaultPlan()
    with BackgroundServer(make_app(plan), tls=tls) as server:
        for _ in range(2):
            plan.add(Fault("drop", path="^/hello$"))
            with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
                httpx.get(f"{server.url}/hello", verify=ctx(tls))
        assert httpx.get(f"{server.url}/hello", verify=ctx(tls)).status_code == 200
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert "Traceback" not in capfd.readouterr().err


def test_port_in_use_fails_clearly() -> None:
    with BackgroundServer(make_app(FaultPlan())) as first:
        second = BackgroundServer(make_app(FaultPlan()), port=first.port)
        with pytest.raises(RuntimeError, match="failed to start"):
            second.start()
