"""The layout's promises that import-linter cannot check: decisions are pure, and the sandbox never ships."""

from __future__ import annotations

import ast
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "operator" / "recording_operator"
DECIDE_MODULES = sorted(PACKAGE.glob("controllers/*/decide.py"))
#: Modules a decision must not touch: I/O, clocks, processes, the network, kopf.
IMPURE = {
    "asyncio",
    "os",
    "socket",
    "subprocess",
    "time",
    "kopf",
    "httpx",
    "aiohttp",
    "opendal",
    "cloudflare",
}


def test_every_kind_has_a_decide_module() -> None:
    kinds = {p.name for p in (PACKAGE / "controllers").iterdir() if p.is_dir() and not p.name.startswith("_")}
    assert kinds <= {p.parent.name for p in DECIDE_MODULES} | {"__pycache__"}


@pytest.mark.parametrize("module", DECIDE_MODULES, ids=lambda p: p.parent.name)
def test_decide_modules_are_pure(module: Path) -> None:
    tree = ast.parse(module.read_text(encoding="utf-8"))
    async_defs = [n.name for n in ast.walk(tree) if isinstance(n, ast.AsyncFunctionDef)]
    imported = {
        alias.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import) for alias in n.names
    } | {(n.module or "").split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    assert not async_defs, f"{module.name} defines async functions: {async_defs}"
    assert not imported & IMPURE, f"{module.name} imports {sorted(imported & IMPURE)}"


def test_the_wheel_ships_the_operator_and_not_the_sandbox(tmp_path: Path) -> None:
    from hatchling.builders.wheel import WheelBuilder

    (wheel,) = WheelBuilder(str(ROOT)).build(directory=str(tmp_path), versions=["standard"])
    names = zipfile.ZipFile(wheel).namelist()
    assert any(n.startswith("recording_operator/controllers/") for n in names)
    assert any(n.startswith("recording_operator/recorder/") for n in names)
    assert not [n for n in names if "recording_sandbox" in n or "/sandbox/" in n]


def test_image_build_contexts_leave_the_sandbox_out() -> None:
    """Both images build from the repository root with this .dockerignore and install the wheel."""
    patterns = (ROOT / ".dockerignore").read_text().splitlines()
    assert "operator/recording_sandbox" in patterns
    for dockerfile in (ROOT / "images").glob("*/Dockerfile"):
        text = dockerfile.read_text()
        assert "pip wheel" in text and "recording_sandbox" not in text


def test_the_image_like_bench_runs_the_operator_with_the_image_environment() -> None:
    """`bench/cloudrecording_bench.py --image-like` measures the operator with what the operator
    image sets besides PATH (e.g. MALLOC_ARENA_MAX, which changes its RSS)."""
    from bench.cloudrecording_bench import IMAGE_ENV

    text = (ROOT / "images/operator/Dockerfile").read_text()
    (final,) = [line for line in text.splitlines() if line.startswith("ENV PATH=")]
    image = dict(item.split("=", 1) for item in final.split()[1:])
    assert {k: v for k, v in image.items() if k != "PATH"} == IMAGE_ENV
