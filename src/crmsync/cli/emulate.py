"""``crmsync emulate dataverse|salesforce``: run a CRM emulator in the foreground."""

from __future__ import annotations

import ipaddress
import os
import re
import tempfile
from pathlib import Path
from typing import Annotated

import typer
from pydantic import SecretStr, ValidationError

from crmsync.emulators.common.server import serve_foreground
from crmsync.emulators.common.tls import TlsFiles, generate
from crmsync.emulators.dataverse.config import DataverseEmulatorSettings

app = typer.Typer(help="Run a local emulator of a CRM web API.", no_args_is_help=True)

_SEED_KEYS = {"contacts": "seed_contacts", "accounts": "seed_accounts"}
_SALESFORCE_SEED_KEYS = {**_SEED_KEYS, "subscriptions": "seed_subscriptions"}
_RATE_RE = re.compile(r"^\s*(\d+)\s*/\s*(\d+(?:\.\d+)?)\s*$")


def parse_seed(value: str, keys: dict[str, str] | None = None) -> dict[str, int]:
    """``contacts=N,accounts=M`` → settings fields; raises ``typer.BadParameter``."""
    keys = keys or _SEED_KEYS
    result: dict[str, int] = {}
    for item in filter(None, (part.strip() for part in value.split(","))):
        key, sep, number = item.partition("=")
        key = key.strip().lower()
        if not sep or key not in keys:
            expected = " or ".join(f"{k}=N" for k in keys)
            raise typer.BadParameter(
                f"{item!r}: expected {expected}, e.g. contacts=1000,accounts=100",
                param_hint="--seed",
            )
        if not number.strip().isdigit():
            raise typer.BadParameter(
                f"{item!r}: {number.strip()!r} is not a non-negative whole number",
                param_hint="--seed",
            )
        result[keys[key]] = int(number)
    return result


def parse_rate_limit(value: str) -> tuple[int, float]:
    """``N/SECONDS`` (e.g. ``6000/300``) → (requests, window seconds)."""
    match = _RATE_RE.match(value)
    if match is None or int(match[1]) == 0 or float(match[2]) == 0:
        raise typer.BadParameter(
            f"{value!r}: expected REQUESTS/SECONDS with positive numbers, e.g. 6000/300",
            param_hint="--rate-limit",
        )
    return int(match[1]), float(match[2])


def read_secret(env: str | None, file: Path | None) -> SecretStr | None:
    """The client secret from an environment variable or a file (never the command line)."""
    if env and file:
        raise typer.BadParameter("give one of --client-secret-env and --client-secret-file")
    if env:
        value = os.environ.get(env)
        if not value:
            raise typer.BadParameter(
                f"environment variable {env} is not set or empty", param_hint="--client-secret-env"
            )
        return SecretStr(value)
    if file:
        try:
            value = file.read_text(encoding="utf-8").strip()
        except OSError as error:
            raise typer.BadParameter(
                f"cannot read {file}: {error.strerror}", param_hint="--client-secret-file"
            ) from None
        if not value:
            raise typer.BadParameter(f"{file} is empty", param_hint="--client-secret-file")
        return SecretStr(value)
    return None


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _url_host(host: str) -> str:
    if host in ("0.0.0.0", "::", ""):  # noqa: S104 - only turning a wildcard into a usable URL
        return "localhost"
    return f"[{host}]" if ":" in host else host


@app.command("dataverse")
def dataverse(
    port: Annotated[int, typer.Option(min=0, max=65535, help="TCP port (0: pick a free one).")],
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    seed: Annotated[
        str | None, typer.Option(help="Generate rows at start-up: contacts=N,accounts=M.")
    ] = None,
    data: Annotated[
        Path | None, typer.Option(help="SQLite file to persist to (default: in memory).")
    ] = None,
    tls: Annotated[bool, typer.Option("--tls", help="Serve HTTPS with a generated CA.")] = False,
    ca_file: Annotated[
        Path | None, typer.Option(help="With --tls: where to write the CA certificate (PEM).")
    ] = None,
    client_id: Annotated[
        str | None, typer.Option(help="Accept only this client id (default: any).")
    ] = None,
    client_secret_env: Annotated[
        str | None, typer.Option(help="Name of the environment variable holding the secret.")
    ] = None,
    client_secret_file: Annotated[
        Path | None, typer.Option(help="File holding the client secret.")
    ] = None,
    rate_limit: Annotated[
        str | None, typer.Option(help="Requests per user per window: N/SECONDS (6000/300).")
    ] = None,
    retention_days: Annotated[
        float | None, typer.Option(help="Days a change-tracking token stays valid.")
    ] = None,
) -> None:
    """Emulate the Dataverse Web API (Dynamics 365) and its token endpoint until interrupted."""
    from crmsync.emulators.dataverse.app import create_emulator  # the heavy part, only here

    fields: dict[str, object] = {"data_file": data, **(parse_seed(seed) if seed else {})}
    secret = read_secret(client_secret_env, client_secret_file)
    if secret is not None and client_id is None:
        raise typer.BadParameter("a client secret needs --client-id", param_hint="--client-id")
    fields.update(client_id=client_id, client_secret=secret)
    if rate_limit:
        fields["rate_limit_requests"], fields["rate_limit_window_seconds"] = parse_rate_limit(
            rate_limit
        )
    if retention_days is not None:
        fields["change_tracking_retention_days"] = retention_days
    if tls and ca_file is None:
        raise typer.BadParameter("--tls needs --ca-file PATH for the CA", param_hint="--ca-file")
    try:
        settings = DataverseEmulatorSettings.model_validate(fields)
    except ValidationError as error:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in error.errors())
        raise typer.BadParameter(problems) from None

    if not is_loopback(host):
        typer.secho(
            f"warning: listening on {host}, reachable from other machines; the emulator has "
            "no real security.",
            fg=typer.colors.YELLOW,
            err=True,
        )
    emulator = create_emulator(settings)
    try:
        with tempfile.TemporaryDirectory(prefix="crmsync-tls-") as workdir:
            files = _tls_files(host, ca_file, Path(workdir)) if tls else None
            scheme = "https" if files else "http"

            def ready(bound_port: int) -> None:
                base = f"{scheme}://{_url_host(host)}:{bound_port}"
                typer.echo(f"Dataverse emulator listening on {base}")
                typer.echo(f"  Web API:   {base}/api/data/v9.2")
                typer.echo(f"  Authority: {base}/common   (scope {base}/.default)")
                typer.echo(f"  Control:   {base}/_emulator/health")
                if files is not None:
                    typer.echo(f"  CA file:   {ca_file}")
                typer.echo("Press Ctrl+C to stop.", err=True)

            try:
                serve_foreground(emulator.app, host=host, port=port, tls=files, on_ready=ready)
            except RuntimeError as error:
                typer.secho(f"error: {error}", fg=typer.colors.RED, err=True)
                raise typer.Exit(1) from None
    finally:
        emulator.close()
    typer.echo("Dataverse emulator stopped.", err=True)


@app.command("salesforce")
def salesforce(
    port: Annotated[int, typer.Option(min=0, max=65535, help="TCP port (0: pick a free one).")],
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    seed: Annotated[
        str | None,
        typer.Option(help="Generate records at start-up: contacts=N,accounts=M,subscriptions=K."),
    ] = None,
    data: Annotated[
        Path | None, typer.Option(help="SQLite file to persist to (default: in memory).")
    ] = None,
    tls: Annotated[bool, typer.Option("--tls", help="Serve HTTPS with a generated CA.")] = False,
    ca_file: Annotated[
        Path | None, typer.Option(help="With --tls: where to write the CA certificate (PEM).")
    ] = None,
    client_id: Annotated[
        str | None, typer.Option(help="Accept only this connected-app client id (default: any).")
    ] = None,
    client_secret_env: Annotated[
        str | None, typer.Option(help="Name of the environment variable holding the secret.")
    ] = None,
    client_secret_file: Annotated[
        Path | None, typer.Option(help="File holding the client secret.")
    ] = None,
    api_limit: Annotated[
        int | None, typer.Option(min=1, help="Daily API request budget (default 100000).")
    ] = None,
    retention_days: Annotated[
        float | None, typer.Option(help="Days deleted records stay in the recycle bin (15).")
    ] = None,
) -> None:
    """Emulate the Salesforce REST API and its OAuth token endpoint until interrupted."""
    from crmsync.emulators.salesforce.app import create_emulator  # the heavy part, only here
    from crmsync.emulators.salesforce.config import SalesforceEmulatorSettings

    fields: dict[str, object] = {"data_file": data}
    if seed:
        fields.update(parse_seed(seed, _SALESFORCE_SEED_KEYS))
    secret = read_secret(client_secret_env, client_secret_file)
    if secret is not None and client_id is None:
        raise typer.BadParameter("a client secret needs --client-id", param_hint="--client-id")
    fields.update(client_id=client_id, client_secret=secret)
    if api_limit is not None:
        fields["api_daily_limit"] = api_limit
    if retention_days is not None:
        fields["deleted_retention_days"] = retention_days
    if tls and ca_file is None:
        raise typer.BadParameter("--tls needs --ca-file PATH for the CA", param_hint="--ca-file")
    try:
        settings = SalesforceEmulatorSettings.model_validate(fields)
    except ValidationError as error:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in error.errors())
        raise typer.BadParameter(problems) from None

    if not is_loopback(host):
        typer.secho(
            f"warning: listening on {host}, reachable from other machines; the emulator has "
            "no real security.",
            fg=typer.colors.YELLOW,
            err=True,
        )
    emulator = create_emulator(settings)
    try:
        with tempfile.TemporaryDirectory(prefix="crmsync-tls-") as workdir:
            files = _tls_files(host, ca_file, Path(workdir)) if tls else None
            scheme = "https" if files else "http"

            def ready(bound_port: int) -> None:
                base = f"{scheme}://{_url_host(host)}:{bound_port}"
                typer.echo(f"Salesforce emulator listening on {base}")
                typer.echo(f"  REST API:  {base}/services/data/v{settings.api_version}")
                typer.echo(f"  Token:     {base}/services/oauth2/token")
                typer.echo(f"  Control:   {base}/_emulator/health")
                if files is not None:
                    typer.echo(f"  CA file:   {ca_file}")
                typer.echo("Press Ctrl+C to stop.", err=True)

            try:
                serve_foreground(emulator.app, host=host, port=port, tls=files, on_ready=ready)
            except RuntimeError as error:
                typer.secho(f"error: {error}", fg=typer.colors.RED, err=True)
                raise typer.Exit(1) from None
    finally:
        emulator.close()
    typer.echo("Salesforce emulator stopped.", err=True)


def _tls_files(host: str, ca_file: Path | None, workdir: Path) -> TlsFiles:
    assert ca_file is not None
    material = generate([] if is_loopback(host) or host in ("0.0.0.0", "::") else [host])  # noqa: S104
    files = material.write(workdir)
    ca_file.parent.mkdir(parents=True, exist_ok=True)
    ca_file.write_bytes(material.ca_pem)
    return files
