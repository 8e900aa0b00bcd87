"""The krew package of `kubectl recording`: a reproducible archive, a manifest krew accepts, and a
launcher that kubectl's plugin discovery runs (real kubectl, the archive as krew unpacks it)."""

from __future__ import annotations

import hashlib
import importlib.util
import os
import re
import subprocess
import sys
import tarfile
from pathlib import Path
from types import ModuleType

import yaml

from tests.support.kubectl import kubectl_binary
from tests.unit.deploy.conftest import ROOT

KREW = ROOT / "manifests" / "krew"


def load_build() -> ModuleType:
    spec = importlib.util.spec_from_file_location("krew_build", KREW / "build.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_archive_is_reproducible_and_the_manifest_names_it(tmp_path: Path) -> None:
    build = load_build()
    first = build.build_archive(tmp_path / "a").read_bytes()
    second = build.build_archive(tmp_path / "b").read_bytes()
    assert first == second  # a release rebuilt from the tag has the sha256 krew-index holds
    sha = hashlib.sha256(first).hexdigest()
    manifest = yaml.safe_load(build.render_manifest("v0.1.0", "https://example.test/a.tar.gz", sha))
    assert manifest["apiVersion"] == "krew.googlecontainertools.github.com/v1alpha2"
    assert manifest["kind"] == "Plugin" and manifest["metadata"]["name"] == "recording"
    assert re.fullmatch(r"v\d+\.\d+\.\d+", manifest["spec"]["version"])
    (platform,) = manifest["spec"]["platforms"]
    assert platform["sha256"] == sha and platform["uri"] == "https://example.test/a.tar.gz"
    assert platform["bin"] == "kubectl-recording"
    with tarfile.open(tmp_path / "a" / "kubectl-recording.tar.gz") as tar:
        names = tar.getnames()
        assert tar.getmember("kubectl-recording").mode & 0o111
    assert sorted(names) == sorted(f["from"] for f in platform["files"]) == ["LICENSE", "kubectl-recording"]
    # Every command the description promises is one the plugin has.
    from recording_operator.kubectl_recording import app

    commands = {c.name or (c.callback.__name__ if c.callback else "") for c in app.registered_commands}
    for promised in (
        "status",
        "files",
        "stop",
        "start",
        "pause",
        "resume",
        "reconcile",
        "restart",
        "logs",
        "watch",
    ):
        assert f"`{promised}" in manifest["spec"]["description"]
        assert promised in commands


def test_kubectl_runs_the_krew_launcher(tmp_path: Path) -> None:
    binary = kubectl_binary()
    archive = load_build().build_archive(tmp_path / "dist")
    plugin_dir = tmp_path / "krew" / "bin"
    with tarfile.open(archive) as tar:
        tar.extractall(plugin_dir, filter="data")
    base = {k: v for k, v in os.environ.items() if k not in ("RECORDING_PYTHON", "PATH")}
    path = f"{plugin_dir}:/usr/bin:/bin"  # the launcher first; no virtualenv on PATH
    ran = subprocess.run(
        [binary, "recording", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**base, "PATH": path, "RECORDING_PYTHON": sys.executable},
    )
    assert ran.returncode == 0, ran.stderr
    assert "Operate recordings" in ran.stdout and "reconcile" in ran.stdout
    # Without a Python that has the package, the user is told what to install (not a traceback).
    missing = subprocess.run(
        [binary, "recording", "status", "x"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**base, "PATH": path, "RECORDING_PYTHON": str(tmp_path / "no-python")},
    )
    assert missing.returncode == 1
    assert "pip install --user recording-operator" in missing.stderr
