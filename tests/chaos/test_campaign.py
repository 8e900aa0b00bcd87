"""The fault campaign (bench/chaos.py), short and with a fixed seed: 2 lifecycles per kind at a 30 %
fault rate against the real operator process on the sandbox. The promise: no session left running
once its resource is gone, never two sessions at once for one resource, no object left behind after
`Delete`, no secret value in logs, status or Events, no traceback in the operator's log.

A failure prints the lifecycle, its faults and the `make chaos ...` command that replays it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SEED = 13
ARGS = ["--lifecycles", "2", "--seed", str(SEED), "--fault-rate", "0.3"]


@pytest.mark.timeout(900)
def test_seeded_campaign_keeps_the_promise(tmp_path: Path) -> None:
    run = subprocess.run(
        [sys.executable, str(ROOT / "bench/chaos.py"), *ARGS, "--state-dir", str(tmp_path / "sandbox")],
        capture_output=True,
        text=True,
        timeout=880,
        cwd=ROOT,
    )
    lines = run.stdout.strip().splitlines()
    assert lines, f"no figures; stderr:\n{run.stderr[-4000:]}"
    figures = json.loads(lines[-1])
    report = f"seed {SEED} ({' '.join(ARGS)}):\n{run.stderr[-6000:]}"
    assert figures["lifecycles"] == 8, report
    assert figures["leaked"] == 0, report
    assert figures["duplicate"] == 0, report
    assert figures["gone_while_running"] == 0, report
    assert figures["unpublished"] == 0, report
    assert figures["secrets"] == 0, report
    assert figures["tracebacks"] == 0, report
