"""Every `sh` example of the README and of docs/ runs as printed, against a live server.

Each document gets a private network namespace, so `viewbox serve` really listens on port 8080 as
the examples say; HOME points at a temporary folder, which holds the default data folder with one
study (patient 123, Study Instance UID 1.2.3, SMITH^JOHN) for the examples to find. A block that
starts a server (`viewbox serve …`) replaces the running one; other blocks run with `bash -e`
against the server of the document (started with a plain `viewbox serve` when the document has
not started one). Every command must succeed and no reply may carry a protocol error.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from helpers.netns import Serve, namespaces, run_in
from test_control_support import make_study

ROOT = Path(__file__).resolve().parent.parent
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]

# Blocks CI runs itself, each word for word (.ci/run): installing the machine, and the test
# suite that contains this test.
RUN_BY_CI = ("./scripts/setup.sh", "./scripts/test.sh")

PROTOCOL_ERROR = re.compile(r'<name>error</name>\s*<value>(?:<string>)?[45]\d\d<|"error":\s*"[45]\d\d"')


def shell_blocks(path: Path) -> list[str]:
    return re.findall(r"^```(?:sh|bash|shell)\n(.*?)^```", path.read_text(encoding="utf-8"), re.M | re.S)


def serve_line(block: str) -> str | None:
    lines = [line for line in block.splitlines() if line.strip()]
    if len(lines) == 1 and lines[0].startswith("viewbox serve"):
        return lines[0]
    assert not any("viewbox serve" in line for line in lines), (
        "a block that starts `viewbox serve` holds only that command (it keeps running)")
    return None


def test_ci_runs_the_readme_install_and_test_commands():
    ci = (ROOT / ".ci" / "run").read_text()
    first = shell_blocks(ROOT / "README.md")[0]
    for command in RUN_BY_CI:
        assert command in first and command.removeprefix("./") in ci


@pytest.mark.parametrize("document", [d for d in DOCUMENTS if shell_blocks(d)], ids=lambda d: d.name)
def test_shell_examples_run_as_printed(document, tmp_path):
    env = {**os.environ, "HOME": str(tmp_path), "XDG_DATA_HOME": str(tmp_path / "share"), "VIEWBOX_CONFIG": "",
           "PATH": f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}"}
    make_study(tmp_path / "files", patient_id="123", patient_name="SMITH^JOHN", study_uid="1.2.3")
    subprocess.run([sys.executable, "-m", "viewbox", "import", str(tmp_path / "files")], check=True, env=env,
                   capture_output=True)
    blocks = [b for b in shell_blocks(document) if not any(command in b for command in RUN_BY_CI)]
    with namespaces("docs") as ns:
        server = None
        try:
            for block in blocks:
                line = serve_line(block)
                if line is not None or server is None:
                    if server is not None:
                        server.stop()
                    server = Serve(ns["docs"], line or "viewbox serve", env)
                if line is not None:
                    continue
                script = f'viewbox() {{ "{sys.executable}" -m viewbox "$@"; }}\nset -e\n{block}'
                result = run_in(ns["docs"], ["bash", "-c", script], env=env, timeout=120)
                output = result.stdout + result.stderr
                assert result.returncode == 0, f"{document.name}: this block failed:\n{block}\n{output}"
                assert not PROTOCOL_ERROR.search(output), f"{document.name}: a protocol error:\n{block}\n{output}"
        finally:
            if server is not None:
                server.stop()
