"""Sessions for the Salesforce REST API from the org's OAuth token endpoint.

``POST {url}/services/oauth2/token`` with a form (client credentials, or username-password) gives
an access token and the ``instance_url`` every API call must go to. Salesforce gives no expiry
(sessions lapse after inactivity), so a session is kept until the API refuses it; concurrent
refreshes are serialized so that one refusal causes one sign-in.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable
from urllib.parse import urlsplit

import httpx
import orjson

from crmsync.connectors.http import error_from_transport
from crmsync.connectors.salesforce.config import SalesforceConnectionConfig
from crmsync.connectors.secrets import read_secret
from crmsync.errors import AuthenticationError, ConfigurationError, TransientError

__all__ = ["OAuthSessionProvider", "Session", "SessionProvider", "StaticSessionProvider"]

logger = logging.getLogger(__name__)

#: What to fix for the token endpoint's refusals, by ``error`` and a word of its description.
_HINTS: tuple[tuple[str, str, str], ...] = (
    ("invalid_client_id", "", "no such connected app: check client_id (its consumer key)"),
    ("invalid_client", "secret", "the client secret is wrong: check client_secret"),
    ("invalid_client", "", "the connected app refused the client: check client_id/secret"),
    (
        "invalid_grant",
        "authentication failure",
        "the user name, password or security token is wrong, or the user is locked out",
    ),
    (
        "invalid_grant",
        "no client credentials user",
        "the connected app has no 'Run As' user for the client credentials flow",
    ),
    ("invalid_grant", "ip", "the login IP is restricted: allow it or relax the IP policy"),
    ("invalid_grant", "", "the grant was refused: check the credentials and the app policies"),
    (
        "unsupported_grant_type",
        "",
        "this flow is not enabled on the connected app (enable it, or use the org's My Domain "
        "URL as url)",
    ),
)


@dataclass(frozen=True, slots=True)
class Session:
    """An access token and the instance its API calls go to."""

    access_token: str
    instance_url: str
    issued_at: int | None = None
    #: The signed-in user's id, the last segment of the token answer's identity URL ``id``
    #: (``…/id/<org id>/<user id>``); ``None`` when the answer gave none.
    user_id: str | None = None

    def __repr__(self) -> str:
        return f"Session(instance_url={self.instance_url!r}, access_token=***)"


@runtime_checkable
class SessionProvider(Protocol):
    """What the REST client needs: a session, possibly a fresh one."""

    async def session(self, *, force_refresh: bool = False) -> Session:
        """A valid session; ``force_refresh`` after the API refused the current one."""
        ...


class StaticSessionProvider:
    """A fixed session, for tests and for sessions obtained elsewhere."""

    def __init__(self, session: Session) -> None:
        self._session = session
        self.refreshes = 0

    async def session(self, *, force_refresh: bool = False) -> Session:
        if force_refresh:
            self.refreshes += 1
        return self._session

    def __repr__(self) -> str:
        return f"StaticSessionProvider(instance_url={self._session.instance_url!r})"


class OAuthSessionProvider:
    """Sessions from ``{url}/services/oauth2/token`` through the configured flow.

    The flow's secrets are read when the provider is made, from ``environ`` (default: the process
    environment) and files.
    """

    def __init__(
        self,
        config: SalesforceConnectionConfig,
        http: httpx.AsyncClient,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        self._config = config
        self._http = http
        self._form = _form(config, environ)
        self._lock = asyncio.Lock()
        self._session: Session | None = None

    def __repr__(self) -> str:
        return f"OAuthSessionProvider(url={self._config.url!r}, credentials=***)"

    async def session(self, *, force_refresh: bool = False) -> Session:
        current = self._session
        if current is not None and not force_refresh:
            return current
        async with self._lock:
            # Another task may have signed in again while this one waited for the lock.
            if self._session is not None and self._session is not current:
                return self._session
            if self._session is not None and not force_refresh:
                return self._session
            self._session = await self._sign_in()
            return self._session

    async def _sign_in(self) -> Session:
        config = self._config
        url = config.token_url
        try:
            response = await self._http.post(
                url, data=self._form, headers={"Accept": "application/json"}
            )
        except httpx.TransportError as exc:
            error = error_from_transport(exc, method="POST", url=url)
            if isinstance(error, TransientError):
                raise AuthenticationError(
                    f"cannot reach the token endpoint {url}: {self._scrub(error.message)} "
                    "(check url and the network)"
                ) from None
            raise error from None
        data = _json(response.content)
        if response.status_code != 200 or "access_token" not in data:
            raise self._refused(response.status_code, data)
        token, instance_url = data.get("access_token"), data.get("instance_url")
        if not isinstance(token, str) or not token:
            raise AuthenticationError(f"the token endpoint {url} answered no access_token")
        instance_url = self._check_instance(instance_url)
        issued = data.get("issued_at")
        logger.info("signed in to Salesforce; API calls go to %s", instance_url)
        return Session(
            access_token=token,
            instance_url=instance_url,
            issued_at=int(issued) if isinstance(issued, str) and issued.isdigit() else None,
            user_id=_user_id(data.get("id")),
        )

    def _check_instance(self, value: Any) -> str:
        parts = urlsplit(value) if isinstance(value, str) else None
        if parts is None or not parts.hostname or parts.scheme not in ("https", "http"):
            raise AuthenticationError(
                f"the token endpoint {self._config.token_url} answered no usable instance_url"
            )
        if parts.scheme == "http" and not self._config.allow_insecure_http:
            raise ConfigurationError(
                f"the token endpoint gave an http instance_url ({parts.netloc}): refusing to send "
                "the token unencrypted"
            )
        return f"{parts.scheme}://{parts.netloc}"

    def _refused(self, status: int, data: dict[str, Any]) -> AuthenticationError:
        error = str(data.get("error") or f"HTTP {status}")
        description = self._scrub(str(data.get("error_description") or "").strip())
        hint = next(
            (text for code, word, text in _HINTS if code == error and word in description.lower()),
            None,
        )
        message = f"sign-in refused by {self._config.token_url}: {error}"
        if description:
            message += f": {description[:300]}"
        if hint:
            message += f" ({hint})"
        return AuthenticationError(message, code=error, status=status)

    def _scrub(self, text: str) -> str:
        for key in ("client_secret", "password"):
            secret = self._form.get(key, "")
            if len(secret) >= 4:
                text = text.replace(secret, "***")
        return text


def _form(config: SalesforceConnectionConfig, environ: Mapping[str, str] | None) -> dict[str, str]:
    """The token request of the configured flow, its secrets read."""
    secret = read_secret(config, "client_secret", environ)
    assert secret is not None  # guaranteed by the settings' validation
    form = {"client_id": config.client_id, "client_secret": secret.get_secret_value()}
    if config.flow == "client_credentials":
        form["grant_type"] = "client_credentials"
        return form
    password = read_secret(config, "password", environ)
    token = read_secret(config, "security_token", environ)
    assert password is not None  # guaranteed by the settings' validation
    assert config.username is not None
    form.update(
        grant_type="password",
        username=config.username,
        password=password.get_secret_value() + (token.get_secret_value() if token else ""),
    )
    return form


def _user_id(identity: Any) -> str | None:
    """The user id ending an identity URL (``https://login.salesforce.com/id/00D…/005…``)."""
    if not isinstance(identity, str):
        return None
    last = urlsplit(identity).path.rstrip("/").rsplit("/", 1)[-1]
    return last if len(last) in (15, 18) and last.isalnum() else None


def _json(content: bytes) -> dict[str, Any]:
    try:
        data = orjson.loads(content)
    except orjson.JSONDecodeError:
        return {}
    return data if isinstance(data, dict) else {}
