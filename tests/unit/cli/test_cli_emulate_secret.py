"""How the emulator commands take the client secret: exactly one of value, variable or file."""

from __future__ import annotations

from pathlib import Path

import pytest
import typer

from crmsync.cli.emulate import read_secret


def test_secret_given_on_the_command_line() -> None:
    secret = read_secret(None, None, "s3cret")
    assert secret is not None
    assert secret.get_secret_value() == "s3cret"
    assert "s3cret" not in repr(secret)


def test_secret_from_a_variable_or_a_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EMULATOR_SECRET", "from-env")
    file = tmp_path / "secret.txt"
    file.write_text("from-file\n", encoding="utf-8")
    from_env = read_secret("EMULATOR_SECRET", None)
    from_file = read_secret(None, file)
    assert from_env is not None
    assert from_env.get_secret_value() == "from-env"
    assert from_file is not None
    assert from_file.get_secret_value() == "from-file"
    assert read_secret(None, None) is None


def test_two_sources_are_refused(tmp_path: Path) -> None:
    with pytest.raises(typer.BadParameter, match="give one of --client-secret"):
        read_secret(None, tmp_path / "secret.txt", "s3cret")
