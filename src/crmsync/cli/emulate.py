"""``crmsync emulate dataverse|salesforce``: run a CRM emulator in the foreground."""

from __future__ import annotations

import ipaddress
import os
import re
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Protocol, TypeVar

import typer
from pydantic import BaseModel, SecretStr, ValidationError

from crmsync.emulators.common.datafile import DataFileError
from crmsync.emulators.common.server import serve_foreground
from crmsync.emulators.common.tls import TlsFiles, ca_key_path, kept_ca
from crmsync.emulators.dataverse.config import DataverseEmulatorSettings

if TYPE_CHECKING:
    from starlette.types import ASGIApp

app = typer.Typer(help="Run a local emulator of a CRM web API.", no_args_is_help=True)

_SEED_KEYS = {"contacts": "seed_contacts", "accounts": "seed_accounts"}
_SALESFORCE_SEED_KEYS = {**_SEED_KEYS, "subscriptions": "seed_subscriptions"}
_RATE_RE = re.compile(r"^\s*(\d+)\s*/\s*(\d+(?:\.\d+)?)\s*$")

_Settings = TypeVar("_Settings", bound=BaseModel)


class _Emulator(Protocol):
    """What serving needs from either emulator: its ASGI app, and a way to release its store."""

    @property
    def app(self) -> ASGIApp: ...

    def close(self) -> None: ...


# Options both emulators take, declared once so the two commands cannot drift apart.
PortOption = Annotated[int, typer.Option(min=0, max=65535, help="TCP port (0: pick a free one).")]
HostOption = Annotated[str, typer.Option(help="Interface to listen on.")]
DataOption = Annotated[
    Path | None,
    typer.Option(
        help="SQLite file to persist to (default: in memory). With --seed, made with the seeded "
        "rows when missing and reused as it is when it was made with the same --seed."
    ),
]
TlsOption = Annotated[bool, typer.Option("--tls", help="Serve HTTPS with a local CA.")]
CaFileOption = Annotated[
    Path | None,
    typer.Option(
        help="With --tls: the CA certificate (PEM) clients trust; reused with its key "
        "(<name>-key<suffix>, beside it) when both exist, else made and kept there."
    ),
]
SecretEnvOption = Annotated[
    str | None, typer.Option(help="Name of the environment variable holding the secret.")
]
SecretFileOption = Annotated[Path | None, typer.Option(help="File holding the client secret.")]
SecretOption = Annotated[
    str | None,
    typer.Option(
        help="The client secret itself: other local users can read it in the process list, "
        "so prefer --client-secret-env or --client-secret-file."
    ),
]


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


def read_secret(env: str | None, file: Path | None, value: str | None = None) -> SecretStr | None:
    """The client secret from an environment variable, a file, or (for throw-away test
    credentials) the command line itself."""
    if sum(1 for given in (env, file, value) if given) > 1:
        raise typer.BadParameter(
            "give one of --client-secret, --client-secret-env and --client-secret-file"
        )
    if value:
        return SecretStr(value)
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
    port: PortOption,
    host: HostOption = "127.0.0.1",
    seed: Annotated[
        str | None, typer.Option(help="Generate rows at start-up: contacts=N,accounts=M.")
    ] = None,
    data: DataOption = None,
    tls: TlsOption = False,
    ca_file: CaFileOption = None,
    client_id: Annotated[
        str | None, typer.Option(help="Accept only this client id (default: any).")
    ] = None,
    client_secret: SecretOption = None,
    client_secret_env: SecretEnvOption = None,
    client_secret_file: SecretFileOption = None,
    client_certificate: Annotated[
        Path | None,
        typer.Option(
            help="PEM certificate registered for the client: certificate sign-in must be signed "
            "by its key (without it, certificate sign-in is refused)."
        ),
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

    fields = _common_fields(
        data,
        parse_seed(seed) if seed else {},
        client_id,
        read_secret(client_secret_env, client_secret_file, client_secret),
    )
    if rate_limit:
        fields["rate_limit_requests"], fields["rate_limit_window_seconds"] = parse_rate_limit(
            rate_limit
        )
    if retention_days is not None:
        fields["change_tracking_retention_days"] = retention_days
    if client_certificate is not None:
        _check_certificate(client_certificate)
        fields["client_certificate"] = client_certificate
    settings = _settings(DataverseEmulatorSettings, fields, tls, ca_file)

    def endpoints(base: str) -> list[str]:
        return [
            f"  Web API:   {base}/api/data/v9.2",
            f"  Authority: {base}/common   (scope {base}/.default)",
        ]

    _run("Dataverse", lambda: create_emulator(settings), endpoints, host, port, tls, ca_file)


@app.command("salesforce")
def salesforce(
    port: PortOption,
    host: HostOption = "127.0.0.1",
    seed: Annotated[
        str | None,
        typer.Option(help="Generate records at start-up: contacts=N,accounts=M,subscriptions=K."),
    ] = None,
    data: DataOption = None,
    tls: TlsOption = False,
    ca_file: CaFileOption = None,
    client_id: Annotated[
        str | None, typer.Option(help="Accept only this connected-app client id (default: any).")
    ] = None,
    client_secret: SecretOption = None,
    client_secret_env: SecretEnvOption = None,
    client_secret_file: SecretFileOption = None,
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

    fields = _common_fields(
        data,
        parse_seed(seed, _SALESFORCE_SEED_KEYS) if seed else {},
        client_id,
        read_secret(client_secret_env, client_secret_file, client_secret),
    )
    if api_limit is not None:
        fields["api_daily_limit"] = api_limit
    if retention_days is not None:
        fields["deleted_retention_days"] = retention_days
    settings = _settings(SalesforceEmulatorSettings, fields, tls, ca_file)

    def endpoints(base: str) -> list[str]:
        return [
            f"  REST API:  {base}/services/data/v{settings.api_version}",
            f"  Token:     {base}/services/oauth2/token",
        ]

    _run("Salesforce", lambda: create_emulator(settings), endpoints, host, port, tls, ca_file)


def _check_certificate(path: Path) -> None:
    """A bad parameter unless ``path`` holds a PEM certificate."""
    from crmsync.emulators.dataverse.oauth import RegisteredCertificate

    try:
        RegisteredCertificate.from_pem(path.read_bytes())
    except OSError as error:
        raise typer.BadParameter(
            f"cannot read {path}: {error.strerror}", param_hint="--client-certificate"
        ) from None
    except ValueError:
        raise typer.BadParameter(
            f"{path} holds no PEM certificate", param_hint="--client-certificate"
        ) from None


def _common_fields(
    data: Path | None,
    seed_fields: dict[str, int],
    client_id: str | None,
    secret: SecretStr | None,
) -> dict[str, object]:
    """Settings fields from the options both emulators share: data file, seed and credentials."""
    fields: dict[str, object] = {"data_file": data, **seed_fields}
    if secret is not None and client_id is None:
        raise typer.BadParameter("a client secret needs --client-id", param_hint="--client-id")
    fields.update(client_id=client_id, client_secret=secret)
    return fields


def _settings(
    model: type[_Settings], fields: dict[str, object], tls: bool, ca_file: Path | None
) -> _Settings:
    """Validated emulator settings; every problem reported as a bad parameter."""
    if tls and ca_file is None:
        raise typer.BadParameter("--tls needs --ca-file PATH for the CA", param_hint="--ca-file")
    try:
        return model.model_validate(fields)
    except ValidationError as error:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in error.errors())
        raise typer.BadParameter(problems) from None


def _run(
    name: str,
    create: Callable[[], _Emulator],
    endpoints: Callable[[str], list[str]],
    host: str,
    port: int,
    tls: bool,
    ca_file: Path | None,
) -> None:
    """Serve a new emulator until interrupted, printing where to reach it once it listens."""
    if not is_loopback(host):
        typer.secho(
            f"warning: listening on {host}, reachable from other machines; the emulator has "
            "no real security.",
            fg=typer.colors.YELLOW,
            err=True,
        )
    try:
        emulator = create()
    except DataFileError as error:
        raise typer.BadParameter(str(error), param_hint="--data") from None
    try:
        with tempfile.TemporaryDirectory(prefix="crmsync-tls-") as workdir:
            files = _tls_files(host, ca_file, Path(workdir)) if tls else None
            scheme = "https" if files else "http"

            def ready(bound_port: int) -> None:
                base = f"{scheme}://{_url_host(host)}:{bound_port}"
                typer.echo(f"{name} emulator listening on {base}")
                for line in endpoints(base):
                    typer.echo(line)
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
    typer.echo(f"{name} emulator stopped.", err=True)


def _tls_files(host: str, ca_file: Path | None, workdir: Path) -> TlsFiles:
    """The server's certificate, new at every start, signed by the CA kept at ``ca_file``."""
    assert ca_file is not None
    authority, made = kept_ca(ca_file)
    kept = "new, kept" if made else "kept"
    typer.echo(f"CA: {ca_file} ({kept} with its key {ca_key_path(ca_file)})", err=True)
    hosts = [] if is_loopback(host) or host in ("0.0.0.0", "::") else [host]  # noqa: S104
    return authority.issue(hosts).write(workdir)
