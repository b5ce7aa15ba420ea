"""Relative paths of a configuration file resolve against its folder; others stay as written."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from crmsync.config import check_config_text, load_config, load_config_text
from crmsync.config.paths import resolve_store_url

BASE = Path("/srv/crmsync")

PATHS = """\
connections:
  dv:
    kind: dataverse
    url: https://org.crm.dynamics.com
    tenant_id: tenant
    client_id: app
    client_secret_file: secrets/dv.txt
    ca_bundle: certs/ca.pem
  sf:
    kind: salesforce
    url: https://sf.example.com
    client_id: app
    client_secret_file: /run/secrets/sf
store:
  url: sqlite:///data/campaign.db?timeout=5
queue:
  path: queue.db
optinout:
  file_exchange:
    folder: drop
    inbox: /var/inbox
"""


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("sqlite:///crmsync.db", "sqlite:////srv/crmsync/crmsync.db"),
        ("sqlite:///data/../c.db", "sqlite:////srv/crmsync/data/../c.db"),
        ("sqlite:///c.db?timeout=5", "sqlite:////srv/crmsync/c.db?timeout=5"),
        ("sqlite+pysqlite:///c.db", "sqlite+pysqlite:////srv/crmsync/c.db"),
        ("sqlite:////var/lib/c.db", "sqlite:////var/lib/c.db"),
        ("sqlite://", "sqlite://"),
        ("sqlite:///:memory:", "sqlite:///:memory:"),
        (
            "sqlite:///file:c.db?mode=ro&uri=true",
            "sqlite:///file:/srv/crmsync/c.db?mode=ro&uri=true",
        ),
        ("sqlite:///file:/var/c.db?uri=true", "sqlite:///file:/var/c.db?uri=true"),
        ("sqlite:///file:m?mode=memory&uri=true", "sqlite:///file:m?mode=memory&uri=true"),
        ("postgresql+psycopg://crm@db:5432/campaign", "postgresql+psycopg://crm@db:5432/campaign"),
    ],
)
def test_store_url_resolution(url: str, expected: str) -> None:
    assert make_url(resolve_store_url(url, BASE)) == make_url(expected)


def test_uri_filename_of_a_folder_with_spaces_is_encoded() -> None:
    resolved = make_url(resolve_store_url("sqlite:///file:c.db?uri=true", Path("/my data")))
    assert resolved.database == "file:/my%20data/c.db"


def test_every_relative_path_of_a_file_resolves_against_its_folder(tmp_path: Path) -> None:
    folder = tmp_path / "conf"
    folder.mkdir()
    (folder / "crmsync.yaml").write_text(PATHS, encoding="utf-8")
    config = load_config(folder / "crmsync.yaml")
    assert config.store.url == f"sqlite:///{folder}/data/campaign.db?timeout=5"
    assert config.queue.path == folder / "queue.db"
    dv, sf = config.connections["dv"], config.connections["sf"]
    assert dv.client_secret_file == folder / "secrets/dv.txt"
    assert dv.ca_bundle == folder / "certs/ca.pem"
    assert sf.client_secret_file == Path("/run/secrets/sf")
    exchange = config.optinout.file_exchange
    assert exchange is not None
    assert (exchange.folder, exchange.inbox) == (folder / "drop", Path("/var/inbox"))


def test_a_relative_file_name_resolves_against_the_working_directory_at_load(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "conf").mkdir()
    (tmp_path / "conf" / "crmsync.yaml").write_text(PATHS, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    config = load_config(Path("conf/crmsync.yaml"))
    assert config.queue.path == tmp_path / "conf" / "queue.db"
    assert config.queue.path.is_absolute()


def test_the_secret_file_is_looked_for_next_to_the_file(tmp_path: Path) -> None:
    (tmp_path / "secrets").mkdir()
    (tmp_path / "secrets" / "dv.txt").write_text("s\n", encoding="utf-8")
    checked = check_config_text(PATHS, base=tmp_path)
    assert [str(issue) for issue in checked.warnings] == [
        f"<config>:8: warning: connections.dv.ca_bundle: file '{tmp_path}/certs/ca.pem' "
        "does not exist",
        "<config>:13: warning: connections.sf.client_secret_file: cannot read secret file "
        "'/run/secrets/sf': No such file or directory",
    ]


def test_text_without_a_folder_keeps_paths_as_written() -> None:
    config = load_config_text(PATHS)
    assert config.store.url == "sqlite:///data/campaign.db?timeout=5"
    assert config.queue.path == Path("queue.db")
    assert load_config_text(PATHS, base=BASE).queue.path == BASE / "queue.db"
