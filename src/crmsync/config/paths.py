"""Relative paths of a configuration file resolve against the file's folder.

A configuration file holds paths: the SQLite store (``store.url``), the SQLite queue
(``queue.path``), the NATS queue's files (TLS certificates, secrets, NKey seed, ``.creds``), the
connections' files (secrets, certificates, ``ca_bundle``), and the opt-out
file drop (``optinout.file_exchange.folder`` and ``inbox``). Each relative one is made absolute
against the folder of the file once, when the file is loaded, so that every command reads the
same store and queue whatever its working directory. Absolute paths, in-memory SQLite databases and
PostgreSQL URLs are kept as written.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote

from pydantic import BaseModel
from sqlalchemy.engine import make_url

from crmsync.config.models import Config, OptOutFileExchange
from crmsync.config.queue import QueueConfig

__all__ = ["resolve_paths", "resolve_store_url"]

_TRUE = ("1", "true", "yes", "on")


def _against(base: Path, path: Path) -> Path:
    return path if path.is_absolute() else base / path


def _optional(base: Path, path: Path | None) -> Path | None:
    return None if path is None else _against(base, path)


def resolve_store_url(url: str, base: Path) -> str:
    """``url`` with a relative SQLite database file made absolute against ``base``.

    ``sqlite:///crmsync.db`` becomes ``sqlite:////BASE/crmsync.db``; ``sqlite:////abs.db``,
    ``sqlite://``, ``sqlite:///:memory:``, ``mode=memory`` URIs and other databases are
    returned unchanged; query parameters are kept.
    """
    parsed = make_url(url)
    database = parsed.database
    if not parsed.drivername.startswith("sqlite") or database in (None, "", ":memory:"):
        return url
    is_uri = str(parsed.query.get("uri", "")).lower() in _TRUE
    if is_uri and database.startswith("file:"):
        # A SQLite URI filename (``file:data.db?mode=ro``): its path is URI-encoded.
        path = database.removeprefix("file:")
        if parsed.query.get("mode") == "memory" or path.startswith("/"):
            return url
        resolved = f"file:{quote(str(base), safe='/')}/{path}"
    else:
        if Path(database).is_absolute():
            return url
        resolved = str(base / database)
    return parsed.set(database=resolved).render_as_string(hide_password=False)


def _file_exchange(base: Path, exchange: OptOutFileExchange | None) -> OptOutFileExchange | None:
    if exchange is None:
        return None
    return exchange.model_copy(
        update={
            "folder": _against(base, exchange.folder),
            "inbox": _optional(base, exchange.inbox),
        }
    )


def _files(base: Path, settings: BaseModel) -> dict[str, Path]:
    """The given paths of ``settings``, made absolute (keys left unset stay unset)."""
    return {
        key: _against(base, value)
        for key, value in settings
        if isinstance(value, Path) and key in settings.model_fields_set
    }


def _queue(base: Path, queue: QueueConfig) -> QueueConfig:
    if queue.kind == "sqlite":
        return queue.model_copy(update={"path": _against(base, queue.path)})
    update: dict[str, object] = dict(_files(base, queue))
    if queue.tls is not None:
        update["tls"] = queue.tls.model_copy(update=_files(base, queue.tls))
    return queue.model_copy(update=update)


def resolve_paths(config: Config, base: Path) -> Config:
    """``config`` with every relative path made absolute against the folder ``base``."""
    base = base.absolute()
    connections = {
        name: connection.model_copy(
            update={
                key: _against(base, value) for key, value in connection if isinstance(value, Path)
            }
        )
        for name, connection in config.connections.items()
    }
    store = config.store.model_copy(update={"url": resolve_store_url(config.store.url, base)})
    queue = _queue(base, config.queue)
    optinout = config.optinout.model_copy(
        update={"file_exchange": _file_exchange(base, config.optinout.file_exchange)}
    )
    return config.model_copy(
        update={"connections": connections, "store": store, "queue": queue, "optinout": optinout}
    )
