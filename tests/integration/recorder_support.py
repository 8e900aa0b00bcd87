"""Helpers for the recorder tests: free ports, ffmpeg publishers, the agent as a process, probing."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from recording_operator.recorder.config import CONFIG_API_VERSION
from recording_operator.recorder.status import RecorderStatus

AGENT = [sys.executable, "-m", "recording_operator", "record"]
SOURCE = [
    "-re",
    "-f",
    "lavfi",
    "-i",
    "testsrc2=size=320x180:rate=25",
    "-f",
    "lavfi",
    "-i",
    "sine=sample_rate=48000",
]
H264 = ["-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency", "-g", "25", "-pix_fmt", "yuv420p"]


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    """A port free for TCP (or UDP with kind=SOCK_DGRAM) on 127.0.0.1 right now."""
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def publisher(
    url: str, *, seconds: float, fmt: str = "mpegts", extra: list[str] | None = None
) -> subprocess.Popen[bytes]:
    """An ffmpeg publisher of a synthetic 25 fps H.264 + AAC source, real-time (`-re`)."""
    argv = ["ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin", *SOURCE, "-t", str(seconds)]
    argv += [*H264, "-c:a", "aac", "-b:a", "64k", *(extra or []), "-f", fmt, url]
    return subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def probe(path: Path) -> dict[str, Any]:
    """ffprobe format + streams of `path`, and the count of decode-error lines (`ffmpeg -v error -f null`)."""
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-show_entries", "format=format_name,duration:stream=codec_type,codec_name",
         "-of", "json", str(path)],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    info = json.loads(out.stdout)
    errors = subprocess.run(
        ["ffmpeg", "-v", "error", "-nostdin", "-i", str(path), "-f", "null", "-"],
        capture_output=True,
        text=True,
    )
    return {
        "format": info["format"]["format_name"],
        "duration": float(info["format"].get("duration", "nan")),
        "streams": sorted(s["codec_type"] for s in info["streams"]),
        "codecs": sorted(s["codec_name"] for s in info["streams"]),
        "decode_errors": len([ln for ln in errors.stderr.splitlines() if ln.strip()]),
    }


def non_monotonic_dts(path: Path) -> int:
    """Count of video packets whose DTS does not increase (recorder-notes.md §4)."""
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries", "packet=dts_time", "-of", "csv=p=0",
         str(path)],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    bad, prev = 0, None
    for line in out.stdout.split():
        try:
            value = float(line.strip(","))
        except ValueError:
            continue
        if prev is not None and value <= prev:
            bad += 1
        prev = value
    return bad


@dataclass
class Agent:
    """A running `recording-operator record` process."""

    proc: subprocess.Popen[bytes]
    port: int
    work_dir: Path
    log_path: Path

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def status(self) -> RecorderStatus:
        response = httpx.get(f"{self.base}/status", timeout=5)
        response.raise_for_status()
        return RecorderStatus.model_validate_json(response.text)

    def wait_for(self, predicate: Callable[[RecorderStatus], bool], *, timeout: float = 30) -> RecorderStatus:
        """Poll /status until `predicate` holds (timeout only guards against a hang)."""
        deadline = time.monotonic() + timeout
        last: RecorderStatus | None = None
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"agent exited {self.proc.returncode}: {self.log()}")
            try:
                last = self.status()
                if predicate(last):
                    return last
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise AssertionError(f"condition not reached; last status {last}; log: {self.log()[-3000:]}")

    def stop(self, *, timeout: float = 60) -> int:
        """SIGTERM and wait for the exit code."""
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=timeout)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


def write_config(
    path: Path, spec: dict[str, Any], *, name: str = "rec", next_index: int = 0, **agent: Any
) -> Path:
    """Write a recorder config file (recorder/config.py format) with short test timings."""
    doc = {
        "apiVersion": CONFIG_API_VERSION,
        "recording": {"namespace": "test", "name": name, "uid": "uid-1"},
        "spec": spec,
        "numbering": {"nextIndex": next_index},
        "agent": {
            "statsPeriodS": 0.5,
            "backoffInitialMs": 200,
            "backoffMaxMs": 1000,
            "stopGraceS": 5,
            **agent,
        },
    }
    path.write_text(json.dumps(doc), encoding="utf-8")
    return path


@contextmanager
def run_agent(
    tmp: Path, spec: dict[str, Any], *, env: dict[str, str] | None = None, **config: Any
) -> Iterator[Agent]:
    """Start the agent on a free port with work dir `tmp/work` and volume dir `tmp/volume`."""
    cfg = write_config(tmp / "config.json", spec, **config)
    port = free_port()
    work = tmp / "work"
    log_path = tmp / "agent.log"
    full_env = {
        **os.environ,
        "RECORDER_WORK_DIR": str(work),
        "RECORDER_VOLUME_DIR": str(tmp / "volume"),
        **(env or {}),
    }
    with log_path.open("wb") as log_file:
        proc = subprocess.Popen(
            [*AGENT, "--config", str(cfg), "--host", "127.0.0.1", "--port", str(port), "-v"],
            env=full_env, stdout=log_file, stderr=subprocess.STDOUT,
        )  # fmt: skip
    agent = Agent(proc, port, work, log_path)
    try:
        yield agent
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def volume_spec(**output: Any) -> dict[str, Any]:
    """`storage` for vendor volume."""
    return {"vendor": "volume", "volume": {"claimName": "recordings"}, "prefix": ["team"]}
