"""Access tokens for the Dataverse Web API, from Microsoft Entra ID (or an emulator) via MSAL.

The client-credentials flow signs in as an application user with a secret or a certificate (MSAL
signs the client assertion and derives the certificate's thumbprint itself). MSAL is synchronous,
so it runs in a worker thread; concurrent refreshes are serialized by a lock, and a token is
reused until shortly before it expires so that most requests never leave the event loop.
"""

from __future__ import annotations

import asyncio
import re
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any, NamedTuple, Protocol, runtime_checkable
from urllib.parse import urlsplit

import httpx
import msal

from crmsync.connectors.config import ssl_context
from crmsync.connectors.dataverse.config import DataverseConnectionConfig
from crmsync.connectors.secrets import MissingSecret, read_secret
from crmsync.errors import AuthenticationError

__all__ = ["AccessToken", "MsalTokenProvider", "StaticTokenProvider", "TokenProvider"]

# Refresh this long before expiry, so that no request goes out with a token about to lapse.
_REFRESH_MARGIN_SECONDS = 300.0
_MICROSOFT_AUTHORITY_HOSTS = (
    "login.microsoftonline.com",
    "login.microsoftonline.us",
    "login.chinacloudapi.cn",
    "login.partner.microsoftonline.cn",
    "login.microsoftonline.de",
    "login.windows.net",
    "login.microsoft.com",
    "sts.windows.net",
)
_PEM_KEY = re.compile(
    r"-----BEGIN (?:RSA |EC |ENCRYPTED )?PRIVATE KEY-----.+?-----END (?:RSA |EC |ENCRYPTED )?"
    r"PRIVATE KEY-----",
    re.DOTALL,
)
_PEM_CERT = re.compile(r"-----BEGIN CERTIFICATE-----.+?-----END CERTIFICATE-----", re.DOTALL)

#: What to fix for the identity platform's most common refusals (AADSTS codes).
_AADSTS_HINTS: dict[int, str] = {
    7000215: "the client secret is wrong: check client_secret",
    7000222: "the client secret has expired: create a new one and update client_secret",
    700016: "no such application in this tenant: check client_id and tenant_id",
    90002: "unknown tenant: check tenant_id (or authority)",
    900023: "malformed tenant: check tenant_id (or authority)",
    70011: "the scope was refused: check url (the organisation URL) is right",
    500011: "the organisation was not found in this tenant: check url and tenant_id",
    700027: "the certificate was refused: check it is registered on the application",
    700024: "the certificate assertion is not valid now: check the machine clock",
    7000218: "no credential was sent: configure client_secret or a certificate",
}


class AccessToken(NamedTuple):
    """A bearer token and its expiry (seconds since the epoch), as azure-core shapes it."""

    token: str
    expires_on: int


@runtime_checkable
class TokenProvider(Protocol):
    """What the Web API client needs: a bearer token, possibly a fresh one."""

    async def token(self, *, force_refresh: bool = False) -> str:
        """A valid access token; ``force_refresh`` after the service refused the current one."""
        ...


class StaticTokenProvider:
    """A fixed token, for tests and for tokens obtained elsewhere."""

    def __init__(self, token: str) -> None:
        self._token = token
        self.refreshes = 0

    async def token(self, *, force_refresh: bool = False) -> str:
        if force_refresh:
            self.refreshes += 1
        return self._token

    def __repr__(self) -> str:
        return "StaticTokenProvider(token=***)"


class MsalTokenProvider:
    """Client-credentials tokens through MSAL's ``ConfidentialClientApplication``.

    Also offers ``get_token(*scopes)`` like azure-core's ``TokenCredential``, so that Microsoft's
    own SDKs can share the same credentials. The credential (secret, or certificate and key) is
    read when the provider is made, from ``environ`` (default: the process environment) and files.
    """

    def __init__(
        self, config: DataverseConnectionConfig, environ: Mapping[str, str] | None = None
    ) -> None:
        self._config = config
        self._app: msal.ConfidentialClientApplication | None = None
        self._session: httpx.Client | None = None
        self._app_lock = threading.Lock()
        self._refresh_lock = asyncio.Lock()
        self._cached: AccessToken | None = None
        self._credential = _credential(config, environ)
        self._secret_values = _secret_values(self._credential)

    def __repr__(self) -> str:
        return f"MsalTokenProvider(authority={self._config.authority_url!r}, client_id=***)"

    async def token(self, *, force_refresh: bool = False) -> str:
        cached = self._cached
        if not force_refresh and cached is not None and _fresh(cached):
            return cached.token
        refused = cached.token if force_refresh and cached is not None else None
        async with self._refresh_lock:
            cached = self._cached
            # Another task may have refreshed while this one waited for the lock.
            if cached is not None and _fresh(cached) and cached.token != refused:
                return cached.token
            fresh = await asyncio.to_thread(self._acquire, (self._config.scope,), force_refresh)
            self._cached = fresh
            return fresh.token

    def get_token(self, *scopes: str, **_: Any) -> AccessToken:
        """Synchronous token for ``scopes`` (default: this organisation), azure-core style."""
        return self._acquire(tuple(scopes) or (self._config.scope,), False)

    def _acquire(self, scopes: tuple[str, ...], force_refresh: bool) -> AccessToken:
        app = self._application()
        try:
            if force_refresh:
                app.remove_tokens_for_client()
            result = app.acquire_token_for_client(scopes=list(scopes))
        except (ValueError, OSError, httpx.HTTPError) as exc:
            raise self._unreachable(exc) from None
        if not isinstance(result, dict):
            raise AuthenticationError("the token endpoint gave no answer")
        if "access_token" not in result:
            raise self._refused(result)
        expires_in = float(result.get("expires_in") or 3599)
        return AccessToken(str(result["access_token"]), int(time.time() + expires_in))

    def _application(self) -> msal.ConfidentialClientApplication:
        with self._app_lock:
            if self._app is None:
                config = self._config
                host = urlsplit(config.authority_url).hostname or ""
                try:
                    self._app = msal.ConfidentialClientApplication(
                        config.client_id,
                        client_credential=self._credential,
                        authority=config.authority_url,
                        instance_discovery=host in _MICROSOFT_AUTHORITY_HOSTS,
                        http_client=self._new_session(),
                    )
                except (ValueError, OSError, httpx.HTTPError) as exc:
                    raise self._unreachable(exc) from None
            return self._app

    def _new_session(self) -> _MsalHttpClient:
        """The HTTP client MSAL uses: the Web API's trust (public CAs plus ``ca_bundle``, which
        no environment variable replaces) and its timeout, one retry of a failed connection."""
        context = ssl_context(self._config.ca_bundle)
        self._session = httpx.Client(
            verify=context,
            timeout=self._config.timeout_seconds,
            follow_redirects=True,
            transport=httpx.HTTPTransport(verify=context, retries=1),
        )
        return _MsalHttpClient(self._session)

    def close(self) -> None:
        """Close the connections to the token endpoint."""
        if self._session is not None:
            self._session.close()

    def _unreachable(self, exc: Exception) -> AuthenticationError:
        detail = self._scrub(f"{type(exc).__name__}: {exc}")
        return AuthenticationError(
            f"cannot use the token authority {self._config.authority_url}: {detail} "
            "(check authority/tenant_id, the network, and ca_bundle for a private CA)"
        )

    def _refused(self, result: dict[str, Any]) -> AuthenticationError:
        error = str(result.get("error") or "unknown_error")
        description = self._scrub(str(result.get("error_description") or "").strip())
        codes = result.get("error_codes") or []
        hint = next(
            (_AADSTS_HINTS[c] for c in codes if isinstance(c, int) and c in _AADSTS_HINTS), None
        )
        first_line = description.splitlines()[0] if description else ""
        message = f"token request refused by {self._config.authority_url}: {error}"
        if first_line:
            message += f": {first_line}"
        if hint:
            message += f" ({hint})"
        code = f"AADSTS{codes[0]}" if codes and isinstance(codes[0], int) else error
        return AuthenticationError(message, code=code)

    def _scrub(self, text: str) -> str:
        for secret in self._secret_values:
            text = text.replace(secret, "***")
        return text


class _MsalHttpClient:
    """An httpx client as MSAL's ``http_client``: MSAL calls ``get`` and ``post`` and reads
    ``status_code``, ``text`` and ``headers`` of the answers, which httpx's are.

    MSAL hands some form values as bytes (a certificate's signed client assertion); httpx would
    write those as ``b'…'``, so they are decoded first, as ``requests`` (MSAL's default) does.
    """

    def __init__(self, client: httpx.Client) -> None:
        self.client = client

    def get(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.client.get(url, **kwargs)

    def post(self, url: str, *, data: Any = None, **kwargs: Any) -> httpx.Response:
        if isinstance(data, dict):
            data = {k: v.decode() if isinstance(v, bytes) else v for k, v in data.items()}
        return self.client.post(url, data=data, **kwargs)

    def close(self) -> None:
        self.client.close()


def _fresh(token: AccessToken) -> bool:
    return token.expires_on - time.time() > _REFRESH_MARGIN_SECONDS


def _secret_values(credential: str | dict[str, str]) -> list[str]:
    """The credential's secret parts, to scrub from any message."""
    if isinstance(credential, str):
        values = [credential]
    else:
        values = [credential["private_key"], credential.get("passphrase", "")]
    return [v for v in values if len(v) >= 4]


def _credential(
    config: DataverseConnectionConfig, environ: Mapping[str, str] | None
) -> str | dict[str, str]:
    """MSAL's ``client_credential``: the secret, or the private key and its certificate."""
    secret = read_secret(config, "client_secret", environ)
    if secret is not None:
        return secret.get_secret_value()
    assert config.certificate_file is not None  # guaranteed by the settings' validation
    certificate = _pem(config.certificate_file, "certificate_file")
    cert = _PEM_CERT.search(certificate)
    if cert is None:
        raise MissingSecret(
            "certificate_file", f"'{config.certificate_file}' holds no PEM certificate"
        )
    key_file = config.private_key_file or config.certificate_file
    key_name = "private_key_file" if config.private_key_file else "certificate_file"
    key = _PEM_KEY.search(_pem(key_file, key_name) if config.private_key_file else certificate)
    if key is None:
        hint = "" if config.private_key_file else " (give it in private_key_file)"
        raise MissingSecret(key_name, f"'{key_file}' holds no PEM private key{hint}")
    credential = {"private_key": key.group(0), "public_certificate": cert.group(0)}
    password = read_secret(config, "private_key_password", environ)
    if password is not None:
        credential["passphrase"] = password.get_secret_value()
    elif "ENCRYPTED" in key.group(0).splitlines()[0]:
        raise MissingSecret(
            key_name,
            f"the private key in '{key_file}' is encrypted: name its password with "
            "private_key_password_env or private_key_password_file",
        )
    return credential


def _pem(path: Path, setting: str) -> str:
    try:
        return path.read_text(encoding="ascii")
    except (OSError, UnicodeDecodeError) as exc:
        raise MissingSecret(setting, f"cannot read '{path}': {exc}") from None
