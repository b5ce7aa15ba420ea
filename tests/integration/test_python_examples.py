"""The Python examples of the README and docs/python.md run as written, as a user runs them: the
code block saved to a file in an empty directory and run by Python, against the emulator."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]


def python_blocks(path: Path) -> list[str]:
    return re.findall(r"^```python\n(.*?)^```$", path.read_text(encoding="utf-8"), re.S | re.M)


@pytest.mark.parametrize(
    ("document", "expected"),
    [
        ("README.md", "10 True contacts?"),
        ("docs/python.md", "100 profiles; 1 event added, 1 duplicate"),
    ],
)
def test_the_python_example_runs_as_written(document: str, expected: str, tmp_path: Path) -> None:
    (code,) = python_blocks(ROOT / document)
    script = tmp_path / "example.py"
    script.write_text(code, encoding="utf-8")
    environ = {k: v for k, v in os.environ.items() if not k.startswith("CRMSYNC_")}
    result = subprocess.run(
        [sys.executable, str(script)],
        cwd=tmp_path,
        env=environ,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert expected in result.stdout
