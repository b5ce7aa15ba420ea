"""The examples of the README and docs/python.md run as written, as a user runs them.

- The Python examples: each code block saved to a file in an empty directory and run by Python,
  against the emulator.
- The README's quickstart: its lines run one by one in one shell. Three things are added between
  them, none changing them: a wait until the emulator and then the server answer (a person types
  slower than a script), a look at the console as the user the quickstart adds, and free ports
  instead of 8443 and 8080 (other servers may be using those). ``make demo`` is left out: the demo
  has tests of its own.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]


def run(
    args: list[str], cwd: Path, timeout: float, **environ: str
) -> subprocess.CompletedProcess[str]:
    """``args`` run in ``cwd`` with the environment less its ``CRMSYNC_`` variables, plus
    ``environ``."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("CRMSYNC_")}
    return subprocess.run(
        args,
        cwd=cwd,
        env=clean | environ,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


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
    result = run([sys.executable, str(script)], tmp_path, 120)
    assert result.returncode == 0, result.stderr
    assert expected in result.stdout


PASSWORD = "a long enough password"

#: Waits until something listens on port $1 (bash alone, no other tool).
WAIT = """wait_port() {
  for _ in $(seq 600); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.1; done
  echo "nothing listens on $1" >&2; return 1
}
"""

#: Logs in through the console's form as the quickstart's user and reads the workflows page.
CONSOLE = """python - "$1" <<'PY'
import os, sys, httpx
base = f"http://127.0.0.1:{sys.argv[1]}/console"
with httpx.Client() as client:
    form = {"name": "ada", "password": os.environ["CRMSYNC_PASSWORD"]}
    login = client.post(f"{base}/login", data=form)
    assert login.status_code == 303, login.text
    page = client.get(f"{base}/workflows")
    assert page.status_code == 200 and "inbound" in page.text, page.text
    print("console: workflows page for ada")
PY
"""


def quickstart() -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    (block,) = re.findall(r"^## Quickstart\n\n```console\n(.*?)^```$", text, re.S | re.M)
    return [line.removeprefix("$ ") for line in block.splitlines() if line.startswith("$ ")]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_the_quickstart_runs_in_a_scratch_folder_and_stops_what_it_started(
    tmp_path: Path,
) -> None:
    emulator, server = free_port(), free_port()
    lines = quickstart()
    assert lines[0].startswith("make demo")
    script = ["set -e", WAIT, f"check_console() {{\n{CONSOLE}}}"]
    for line in lines[1:]:
        line = line.replace("8443", str(emulator))
        if line.startswith("crmsync serve"):
            line = line.replace(" &", f" --port {server} &", 1)
        script.append(line)
        if line.startswith("crmsync emulate"):
            script.append(f"wait_port {emulator}")
        if line.startswith("crmsync serve"):
            script += [f"wait_port {server}", f"check_console {server}"]
    script += ["wait", "pwd"]
    before = sorted(p.name for p in ROOT.iterdir())
    shell = ["bash", "-c", "\n".join(script)]
    done = run(shell, ROOT, 300, TMPDIR=str(tmp_path), CRMSYNC_PASSWORD=PASSWORD)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "console: workflows page for ada" in done.stdout
    assert re.search(r"inserted\s.*1,000", done.stdout), done.stdout  # the run's own counts
    scratch = Path(done.stdout.splitlines()[-1])
    assert scratch.parent == tmp_path
    assert {"crmsync.yaml", "ca.pem", "crmsync.db"} <= {p.name for p in scratch.iterdir()}
    assert sorted(p.name for p in ROOT.iterdir()) == before  # nothing left in the repository
    for port in (emulator, server):  # both stopped
        with socket.socket() as probe:
            assert probe.connect_ex(("127.0.0.1", port)) != 0
