"""benchmarks/gpu_check.sh (the one-command GPU check of issue 21) parses, and its dry run's env stage passes here."""

import shutil
import subprocess
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "gpu_check.sh"
pytestmark = pytest.mark.skipif(not SCRIPT.is_file(), reason="benchmarks/ is not part of this checkout")


def test_gpu_check_parses():
    run = subprocess.run(["bash", "-n", str(SCRIPT)], capture_output=True, text=True, timeout=30)
    assert run.returncode == 0, run.stderr
    if shutil.which("shellcheck"):
        run = subprocess.run(["shellcheck", str(SCRIPT)], capture_output=True, text=True, timeout=60)
        assert run.returncode == 0, run.stdout


def test_gpu_check_dry_run_env_stage(tmp_path):
    out = tmp_path / "out"
    run = subprocess.run(["bash", str(SCRIPT), "--dry-run", "--only", "env", str(out)], capture_output=True,
                         text=True, timeout=120)
    assert run.returncode == 0, run.stdout + run.stderr
    assert (out / "env.done").is_file() and not (out / "install.done").exists()
    summary = (out / "summary.md").read_text()
    assert "| env | ok |" in summary and "| tests | not run |" in summary
    assert "minidl" in (out / "env.log").read_text()
    # resumable: a second run skips the stage that is done
    again = subprocess.run(["bash", str(SCRIPT), "--dry-run", "--only", "env", str(out)], capture_output=True,
                           text=True, timeout=60)
    assert again.returncode == 0 and "env: done before, skipped" in again.stdout, again.stdout + again.stderr
