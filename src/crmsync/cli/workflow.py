"""``crmsync workflow list|start|stop``: control the workflows of a running ``crmsync serve``.

The commands are clients of the server's REST API (the workflows run in the server's process):
``--url`` names the server (default ``$CRMSYNC_URL``, else ``http://127.0.0.1:8080``) and the API
token comes from ``$CRMSYNC_TOKEN`` only, never from the command line, where other users of the
machine could read it. Exit codes: 0 done, 1 the server refused or could not be reached.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Annotated, Any, NoReturn
from urllib.parse import quote

import httpx
import typer

from crmsync.cli.output import Table, cli_console

__all__ = ["app"]

app = typer.Typer(
    help="Start and stop the workflows of a running `crmsync serve`.", no_args_is_help=True
)

UrlOption = Annotated[
    str, typer.Option(envvar="CRMSYNC_URL", help="The server's address (or $CRMSYNC_URL).")
]
CaBundleOption = Annotated[
    Path | None,
    typer.Option(exists=True, dir_okay=False, help="CA certificates to verify an HTTPS server."),
]
_DEFAULT_URL = "http://127.0.0.1:8080"


def _fail(message: str) -> NoReturn:
    cli_console(stderr=True).print(f"[red]{message}[/red]")
    raise typer.Exit(1)


def _call(method: str, url: str, path: str, ca_bundle: Path | None) -> Any:
    token = os.environ.get("CRMSYNC_TOKEN", "").strip()
    if not token:
        _fail("set CRMSYNC_TOKEN to an API token (crmsync user token NAME)")
    verify: str | bool = str(ca_bundle) if ca_bundle else True
    try:
        with httpx.Client(base_url=url, verify=verify, timeout=60.0) as client:
            answer = client.request(method, path, headers={"Authorization": f"Bearer {token}"})
    except httpx.HTTPError as exc:
        _fail(f"could not reach the server at {url}: {exc}")
    try:
        body = answer.json()
    except ValueError:
        _fail(f"{method} {path}: the server answered {answer.status_code} without a JSON body")
    if answer.is_error:
        detail = body.get("detail", answer.reason_phrase) if isinstance(body, dict) else body
        _fail(f"{method} {path}: {answer.status_code} {detail}")
    return body


@app.command("list")
def list_workflows(
    url: UrlOption = _DEFAULT_URL,
    ca_bundle: CaBundleOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Each workflow's status, backlog, revisions and last error."""
    workflows = _call("GET", url, "/api/workflows", ca_bundle)
    if as_json:
        typer.echo(json.dumps(workflows, indent=2))
        return
    table = Table("workflow", "status", "backlog", "active", "pending", "last error")
    for item in workflows:
        reason = f" ({item['reason']})" if item.get("reason") else ""
        table.add_row(
            item["name"],
            item["status"] + reason,
            "?" if item["backlog"] is None else str(item["backlog"]),
            str(item["active_revision"] or "-"),
            str(item["pending_revision"] or "-"),
            item["last_error"] or "",
        )
    cli_console().print(table)


@app.command("start")
def start(
    name: Annotated[str, typer.Argument(help="inbound, outbound or optinout.")],
    url: UrlOption = _DEFAULT_URL,
    ca_bundle: CaBundleOption = None,
    wait: Annotated[
        float, typer.Option(min=0, help="Seconds to wait for RUNNING (0: do not wait).")
    ] = 60.0,
) -> None:
    """Start a workflow; a pending configuration revision becomes active."""
    view = _call("POST", url, f"/api/workflows/{quote(name, safe='')}/start", ca_bundle)
    deadline = time.monotonic() + wait
    while view["status"] == "STARTING" and time.monotonic() < deadline:
        time.sleep(0.2)
        view = _call("GET", url, f"/api/workflows/{quote(name, safe='')}", ca_bundle)
    if view["status"] == "FAILED":
        _fail(f"{name} failed to start: {view['reason']}")
    cli_console().print(f"{view['name']}: {view['status']} (revision {view['active_revision']})")


@app.command("stop")
def stop(
    name: Annotated[str, typer.Argument(help="inbound, outbound or optinout.")],
    url: UrlOption = _DEFAULT_URL,
    ca_bundle: CaBundleOption = None,
) -> None:
    """Stop a workflow cleanly (it drains or checkpoints; nothing is lost)."""
    result = _call("POST", url, f"/api/workflows/{quote(name, safe='')}/stop", ca_bundle)
    cli_console().print(f"{result['workflow']}: {result['status']}")
    if result.get("warning"):
        cli_console(stderr=True).print(f"[yellow]warning:[/yellow] {result['warning']}")
