"""Checks both connection configurations share: the CRM's base URL and the TLS trust store.

The Dataverse and Salesforce settings models call these from their validators, so a URL is
refused with the same rules (and messages naming the CRM's own URL kind) on both sides.
"""

from __future__ import annotations

import ssl
from pathlib import Path
from urllib.parse import urlsplit

import certifi

from crmsync.errors import ConfigurationError

__all__ = ["check_base_url", "check_https", "ssl_context"]


def check_base_url(value: str, *, name: str, kind: str, example: str) -> str:
    """``scheme://host[:port]`` of ``value``; a ``ValueError`` unless it is nothing more.

    ``kind`` says what the URL is (``organisation base URL``) and ``example`` shows one, for the
    messages.
    """
    parts = urlsplit(value.strip())
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise ValueError(f"{name} must be an absolute https URL, e.g. {example}")
    if parts.username or parts.password:
        raise ValueError(f"{name} must not carry credentials")
    if parts.query or parts.fragment or parts.path.strip("/"):
        raise ValueError(f"{name} must be the {kind} only (no path or query)")
    return f"{parts.scheme}://{parts.netloc}"


def check_https(url: str, *, allow_insecure_http: bool) -> None:
    """A ``ValueError`` for an ``http://`` URL unless plain HTTP was allowed (local tests)."""
    if urlsplit(url).scheme == "http" and not allow_insecure_http:
        raise ValueError("url must use https (allow_insecure_http is for local tests only)")


def ssl_context(ca_bundle: Path | None) -> ssl.SSLContext:
    """Verification always on: the public CAs, plus ``ca_bundle`` when one is configured."""
    context = ssl.create_default_context(cafile=certifi.where())
    if ca_bundle is not None:
        try:
            context.load_verify_locations(cafile=str(ca_bundle))
        except (OSError, ssl.SSLError) as exc:
            raise ConfigurationError(f"cannot load ca_bundle {ca_bundle}: {exc}") from None
    return context
