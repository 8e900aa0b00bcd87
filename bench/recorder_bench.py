"""`make bench`: the recorder agent + FFmpeg against bare FFmpeg with the same argv.

Source: a 1080p30 H.264 6 Mb/s (CBR, GOP 2 s) + AAC 128 kb/s clip, encoded once into a temp dir
and published in real time by `ffmpeg -re -stream_loop -1 -c copy` as an SRT listener on loopback,
one publisher per consumer, so the publishers never encode during the measurement. The consumers
pull it as SRT callers (the demo's main path) and stream-copy it into 10 s fragmented-MP4 segments
on local disk (`vendor: volume`: the agent's "upload" is a local copy, no network storage).

1. Side by side, at the same time, over `--seconds` media seconds (after `--warmup` s):
   (a) the agent, `recording-operator record` with the production agent tuning (`AgentTuning()`
       defaults, no `-v`), polled on `/status?sinceIndex=N` like the controller does, every
       `--status-poll` s (default: the controller's `LOCALRECORDING_POLL_INTERVAL` default);
   (b) bare FFmpeg run with `recorder.ffmpeg.build_argv` for the same config (only the SRT port and
       the output directory differ); the bench checks that the argv the agent logs ("starting
       ffmpeg: ...") is this argv with those two substituted.
   CPU seconds (user + system, /proc/<pid>/stat via psutil, all threads) per media second, for
   (a) the agent process plus its descendants (its FFmpeg, and any ffprobe it reaped) and for (b)
   the bare FFmpeg. Media seconds are FFmpeg's `out_time_us` at the start and end of the window,
   extrapolated at 1 s/s from the last progress block to the sampling instant (the agent's from
   `/status` `stats.outTimeMs` + `stats.updatedAt`, bare FFmpeg's from its `-progress` pipe).
   Agent overhead = (CPU(a) - CPU(b)) / CPU(b), in %; the agent's own Python CPU is shown apart,
   and so is its FFmpeg against the bare one: same argv, so that difference is the noise floor of
   the comparison (a stream copy costs well under 1 % of a core; two copies differ by a few %).
   Peak RSS: VmHWM from /proc/<pid>/status of the Python agent alone (MB = 2^20 bytes), FFmpeg's
   for reference.
2. Latency, `--latency-runs` times each:
   - input available → first progress: the agent starts first and its FFmpeg is trying to connect;
     the publisher starts `--absent` × k / runs s after that (k = 1 … runs: the agent is caught at
     different points of its connect attempts and restart backoff). "Available" is the instant the publisher's SRT
     listener socket is bound (its UDP port appears in /proc/net/udp, polled every 1 ms); "first
     progress" is the first `/status` (polled every 10 ms) with phase `Recording` (the agent sets
     it on FFmpeg's first progress block).
   - agent start → first progress with the input already available (informational: it includes
     the Python start-up), and the same for bare FFmpeg (spawn → first progress block) as the floor.

3. Transcode cost (`--transcode-seconds`, 0 skips it; `--transcode-only` runs only this): bare FFmpeg
   with `build_argv` for a 1080p30 libx264 `veryfast` re-encode of the same SRT source with two text
   overlays (a boxed UTC clock and a static title, drawtext), audio copied: CPU seconds per media
   second over the window (after `--warmup`), and the speed it kept (media s per wall s; below 1
   the machine cannot transcode it in real time).

4. Three-output cost (`--outputs-seconds`, 0 skips it; `--outputs-only` runs only this): bare FFmpeg
   with `build_argv` for one capture of the same SRT source into three outputs of one process: the
   10 s fMP4 archive (stream copy), an HLS event playlist of 6 s segments (stream copy) and a 320 px
   jpg thumbnail every 10 s (`fps`, `scale`, mjpeg; the source's keyframes only are decoded, as
   nothing else decodes: `-skip_frame nokey`): CPU seconds per media second and speed, measured
   like 3, next to the one-output stream copy of 1 (bare FFmpeg) when that ran.

Targets (the recorder's performance budget): the agent adds ≤ 5 % CPU, input available → first progress ≤ 2 s, agent RSS
≤ 60 MB. A missed target is reported (MISS) and does not fail the bench; the exit code is 1 only
when the recording broke (an agent or FFmpeg died, restarted, or produced no files).

    .venv/bin/python bench/recorder_bench.py
    .venv/bin/python bench/recorder_bench.py --seconds 120 --latency-runs 9
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import psutil

from recording_sandbox.ports import free_port

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # tests.support.recorder: the agent launch helpers

from tests.support.recorder import AGENT, Agent, write_config  # noqa: E402

from recording_operator.api.agent import (  # noqa: E402
    ENV_VOLUME_DIR,
    ENV_WORK_DIR,
    STATUS_PATH,
    AgentTuning,
    RecorderStatus,
)
from recording_operator.recorder import ffmpeg as ff  # noqa: E402
from recording_operator.recorder.env import load_config  # noqa: E402
from recording_operator.recorder.progress import ProgressParser  # noqa: E402
from recording_operator.settings import Settings  # noqa: E402

TARGET_OVERHEAD_PCT = 5.0
TARGET_LATENCY_S = 2.0
TARGET_RSS_MB = 60.0
#: Segment length of the recording (s) and the SRT receiver latency, as in the LocalRecording sample.
SEGMENT = "10s"
SRT_LATENCY = "200ms"
#: The clip: 1080p30 with detail and noise (so x264 really spends the bits), CBR 6 Mb/s with filler.
CLIP_VIDEO = "testsrc2=size=1920x1080:rate=30,noise=alls=12:allf=t"
CLIP_AUDIO = "sine=frequency=440:sample_rate=48000"
CLIP_ENCODE = [
    "-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p",
    "-b:v", "6M", "-minrate", "6M", "-maxrate", "6M", "-bufsize", "12M", "-x264-params", "nal-hrd=cbr",
    "-g", "60", "-keyint_min", "60", "-sc_threshold", "0",
    "-c:a", "aac", "-b:a", "128k", "-ac", "2",
]  # fmt: skip
STATUS_POLL_S = 0.010
BIND_POLL_S = 0.001
MB = 2**20


class BenchError(RuntimeError):
    """The recording broke (a process died or restarted, no files): the bench exits 1."""


# ------------------------------------------------------------------------------------- processes


class Processes:
    """Every process the bench starts; `close()` kills the survivors (and their descendants)."""

    def __init__(self) -> None:
        """Start with none."""
        self._procs: list[subprocess.Popen[bytes]] = []

    def start(self, argv: list[str], **kwargs: Any) -> subprocess.Popen[bytes]:
        """`subprocess.Popen(argv, **kwargs)`, remembered for `close()`."""
        proc = subprocess.Popen(argv, **kwargs)
        self._procs.append(proc)
        return proc

    def close(self) -> None:
        """SIGKILL every remembered process still running, descendants first (the agent runs its
        FFmpeg in a session of its own, so it would survive its parent)."""
        for proc in reversed(self._procs):
            if proc.poll() is not None:
                continue
            with contextlib.suppress(psutil.Error):
                for child in psutil.Process(proc.pid).children(recursive=True):
                    with contextlib.suppress(psutil.Error):
                        child.kill()
            proc.kill()
            proc.wait()
        self._procs.clear()


def _stop(proc: subprocess.Popen[bytes], timeout_s: float) -> int:
    """SIGTERM, wait up to `timeout_s` s, SIGKILL; returns the exit code."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return proc.returncode


def encode_clip(path: Path, seconds: int) -> None:
    """Encode the source clip (MPEG-TS, `seconds` long) with CLIP_ENCODE."""
    argv = ["ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin", "-y",
            "-f", "lavfi", "-i", CLIP_VIDEO, "-f", "lavfi", "-i", CLIP_AUDIO,
            "-t", str(seconds), *CLIP_ENCODE, "-f", "mpegts", str(path)]  # fmt: skip
    subprocess.run(argv, check=True)


def publish(procs: Processes, clip: Path, port: int) -> subprocess.Popen[bytes]:
    """A real-time SRT listener on 127.0.0.1:`port` looping `clip` (stream copy, no encoding)."""
    argv = ["ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin", "-re", "-stream_loop", "-1",
            "-i", str(clip), "-c", "copy", "-f", "mpegts", f"srt://127.0.0.1:{port}?mode=listener"]  # fmt: skip
    return procs.start(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _udp_bound(port: int) -> bool:
    """True when some socket is bound to UDP `port` (IPv4 or IPv6), from /proc/net/udp{,6}."""
    suffix = f":{port:04X}"
    for table in ("/proc/net/udp", "/proc/net/udp6"):
        with contextlib.suppress(OSError), open(table, encoding="ascii") as f:
            next(f, None)
            for line in f:
                fields = line.split(maxsplit=2)
                if len(fields) > 1 and fields[1].endswith(suffix):
                    return True
    return False


def wait_bound(port: int, proc: subprocess.Popen[bytes], timeout_s: float = 10.0) -> float:
    """Poll until UDP `port` is bound; returns that instant (time.monotonic(), s).

    Raises:
        BenchError: `proc` exited or the port was not bound within `timeout_s`.
    """
    deadline = time.monotonic() + timeout_s
    while not _udp_bound(port):
        if proc.poll() is not None or time.monotonic() > deadline:
            raise BenchError(f"publisher on port {port} did not bind (exit {proc.poll()})")
        time.sleep(BIND_POLL_S)
    return time.monotonic()


# ------------------------------------------------------------------------------------ the agent


def spec_for(port: int) -> dict[str, Any]:
    """The LocalRecording spec both consumers record: SRT pull, stream copy, 10 s mp4 segments."""
    return {
        "input": {"url": f"srt://127.0.0.1:{port}", "latency": SRT_LATENCY},
        "output": {"format": "mp4", "segmentDuration": SEGMENT},
        "storage": {"vendor": "volume", "volume": {"claimName": "bench"}, "prefix": ["bench"]},
    }


def start_agent(procs: Processes, tmp: Path, src_port: int) -> Agent:
    """Run `recording-operator record` (production tuning, INFO logs) for `spec_for(src_port)`.

    The work dir is `tmp/work`, the volume root `tmp/volume`, the log `tmp/agent.log`.
    """
    tmp.mkdir(parents=True, exist_ok=True)
    tuning = AgentTuning().model_dump()
    config = write_config(tmp / "config.json", spec_for(src_port), name="bench", **tuning)
    port = free_port()
    env = {**os.environ, ENV_WORK_DIR: str(tmp / "work"), ENV_VOLUME_DIR: str(tmp / "volume")}
    log_path = tmp / "agent.log"
    with log_path.open("wb") as log_file:
        proc = procs.start(
            [*AGENT, "--config", str(config), "--host", "127.0.0.1", "--port", str(port)],
            env=env, stdout=log_file, stderr=subprocess.STDOUT,
        )  # fmt: skip
    return Agent(proc, port, tmp / "work", log_path)


def _status(client: httpx.Client, agent: Agent, since: int = 0) -> RecorderStatus | None:
    """`/status?sinceIndex=since`, or None while the agent does not answer yet."""
    try:
        response = client.get(f"{agent.base}{STATUS_PATH}", params={"sinceIndex": since})
    except httpx.HTTPError:
        return None
    return RecorderStatus.model_validate_json(response.text) if response.status_code == 200 else None


def wait_status(
    client: httpx.Client, agent: Agent, predicate: Any, *, timeout_s: float, what: str
) -> tuple[RecorderStatus, float]:
    """Poll `/status` every STATUS_POLL_S until `predicate(status)`; returns it and time.monotonic().

    Raises:
        BenchError: the agent exited, or `timeout_s` passed.
    """
    deadline = time.monotonic() + timeout_s
    while True:
        status = _status(client, agent)
        now = time.monotonic()
        if status is not None and predicate(status):
            return status, now
        if agent.proc.poll() is not None:
            raise BenchError(
                f"agent exited {agent.proc.returncode} waiting for {what}: {agent.log()[-2000:]}"
            )
        if now > deadline:
            raise BenchError(
                f"agent: no {what} within {timeout_s:.0f} s; last {status}; {agent.log()[-2000:]}"
            )
        time.sleep(STATUS_POLL_S)


def _stop_agent(agent: Agent) -> None:
    """SIGTERM the agent and wait for it.

    Raises:
        BenchError: it did not exit 0 (a file could not be stored, or it crashed).
    """
    code = agent.stop(timeout=60)
    if code != 0:
        raise BenchError(f"agent exited {code}: {agent.log()[-2000:]}")


def _logged_argv(agent: Agent) -> str | None:
    for line in agent.log().splitlines():
        _, sep, argv = line.partition("starting ffmpeg: ")
        if sep:
            return argv
    return None


def _vm(pid: int) -> dict[str, int]:
    """VmHWM / VmRSS of `pid` in bytes (0 when gone)."""
    out = {"VmHWM": 0, "VmRSS": 0}
    with contextlib.suppress(OSError), open(f"/proc/{pid}/status", encoding="ascii") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in out:
                out[key] = int(value.split()[0]) * 1024
    return out


# ----------------------------------------------------------------------------------- bare ffmpeg


@dataclass
class Bare:
    """Bare FFmpeg with its `-progress` pipe read in a thread."""

    proc: subprocess.Popen[bytes]
    spawned: float
    first_block: float | None = None
    #: (wall clock of the last block (time.time(), s), its out_time_us)
    last: tuple[float, int] | None = None
    blocks: int = 0
    stderr: deque[str] = field(default_factory=lambda: deque(maxlen=20))
    lock: threading.Lock = field(default_factory=threading.Lock)

    def _read_progress(self) -> None:
        assert self.proc.stdout is not None
        parser = ProgressParser()
        for raw in self.proc.stdout:
            block = parser.feed(raw.decode("utf-8", "replace"))
            if block is None:
                continue
            now_wall, now = time.time(), time.monotonic()
            with self.lock:
                self.blocks += 1
                if self.first_block is None:
                    self.first_block = now
                if block.out_time_us is not None:
                    self.last = (now_wall, block.out_time_us)

    def _read_stderr(self) -> None:
        assert self.proc.stderr is not None
        for raw in self.proc.stderr:
            self.stderr.append(raw.decode("utf-8", "replace").rstrip())

    def media_s(self, at_wall: float) -> float:
        """Media seconds written at wall-clock `at_wall`, extrapolated from the last block at 1 s/s."""
        with self.lock:
            if self.last is None:
                return 0.0
            wall, us = self.last
        return us / 1e6 + max(0.0, at_wall - wall)


def start_bare(procs: Processes, argv: list[str]) -> Bare:
    """Start `argv` (an FFmpeg with `-progress pipe:1`) and its pipe readers."""
    proc = procs.start(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    bare = Bare(proc, time.monotonic())
    for target in (bare._read_progress, bare._read_stderr):
        threading.Thread(target=target, daemon=True).start()
    return bare


def bare_argv(agent_dir: Path, src_port: int, parts_dir: Path) -> list[str]:
    """`build_argv` for the agent's own config file with the SRT port set to `src_port`, writing
    into `parts_dir`, exactly as `Recorder._run_session` calls it (first session, no passphrase)."""
    config = load_config(agent_dir / "config.json")
    spec = config.spec.model_copy(
        update={"input": config.spec.input.model_copy(update={"url": f"srt://127.0.0.1:{src_port}"})}
    )
    parts_dir.mkdir(parents=True, exist_ok=True)
    return ff.build_argv(
        spec,
        parts_dir=parts_dir,
        start_index=config.numbering.nextIndex,
        stats_period_s=config.agent.statsPeriodS,
        ffmpeg="ffmpeg",
    )


def _media_duration_s(paths: list[Path]) -> float:
    total = 0.0
    for path in paths:
        out = subprocess.run(
            ["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0", str(path)],
            capture_output=True, text=True,
        )  # fmt: skip
        with contextlib.suppress(ValueError):
            total += float(out.stdout.strip())
    return total


# ---------------------------------------------------------------------------------- measurements


@dataclass
class CpuSample:
    """CPU seconds (user + system) and media seconds at one instant."""

    agent_py: float
    agent_children: float
    bare: float
    agent_media: float
    bare_media: float


def _cpu_s(proc: psutil.Process) -> float:
    t = proc.cpu_times()
    return t.user + t.system


def _agent_cpu(agent: psutil.Process) -> tuple[float, float]:
    """(the agent's own CPU s, CPU s of its descendants: reaped ones + live ones)."""
    t = agent.cpu_times()
    children = t.children_user + t.children_system
    for child in agent.children(recursive=True):
        with contextlib.suppress(psutil.Error):
            children += _cpu_s(child)
    return t.user + t.system, children


def _updated_wall(status: RecorderStatus) -> float:
    stamp = status.stats.updatedAt
    if not stamp:
        return time.time()
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


def sample(client: httpx.Client, agent: Agent, agent_ps: psutil.Process, bare: Bare) -> CpuSample:
    """Both consumers' CPU and media position, taken back to back."""
    status = _status(client, agent)
    if status is None or status.stats.outTimeMs is None:
        raise BenchError("agent /status unavailable while sampling")
    if status.sessions != 1:
        raise BenchError(f"agent restarted ffmpeg during the measurement: {status.lastError}")
    now_wall = time.time()
    agent_py, agent_children = _agent_cpu(agent_ps)
    bare_cpu = _cpu_s(psutil.Process(bare.proc.pid))
    agent_media = status.stats.outTimeMs / 1000 + max(0.0, now_wall - _updated_wall(status))
    return CpuSample(agent_py, agent_children, bare_cpu, agent_media, bare.media_s(now_wall))


@dataclass
class SideBySide:
    """Figures of the side-by-side run."""

    media_agent_s: float
    media_bare_s: float
    cpu_agent_py_s: float
    cpu_agent_ffmpeg_s: float
    cpu_bare_s: float
    rss_agent_peak: int
    rss_agent_now: int
    rss_agent_ffmpeg_peak: int
    rss_bare_peak: int
    recorded_agent_s: float
    recorded_bare_s: float
    files_agent: int
    files_bare: int
    same_argv: bool
    argv: list[str]

    @property
    def per_media_agent(self) -> float:
        """Agent + its FFmpeg, CPU s per media s."""
        return (self.cpu_agent_py_s + self.cpu_agent_ffmpeg_s) / self.media_agent_s

    @property
    def per_media_bare(self) -> float:
        """Bare FFmpeg, CPU s per media s."""
        return self.cpu_bare_s / self.media_bare_s

    @property
    def python_pct(self) -> float:
        """The agent's own (Python) CPU per media second, % of bare FFmpeg's."""
        return self.cpu_agent_py_s / self.media_agent_s / self.per_media_bare * 100

    @property
    def ffmpeg_delta_pct(self) -> float:
        """The agent's FFmpeg against bare FFmpeg (same argv), % of bare FFmpeg's CPU per media s:
        what the agent's supervision costs FFmpeg, plus run-to-run noise."""
        return (self.cpu_agent_ffmpeg_s / self.media_agent_s / self.per_media_bare - 1) * 100

    @property
    def overhead_pct(self) -> float:
        """What the agent adds over bare FFmpeg, % of bare FFmpeg's CPU per media second."""
        return (self.per_media_agent - self.per_media_bare) / self.per_media_bare * 100


def side_by_side(
    procs: Processes, tmp: Path, clip: Path, *, seconds: float, warmup_s: float, poll_s: float
) -> SideBySide:
    """Run the agent and bare FFmpeg at the same time on their own publishers; measure a window.

    Raises:
        BenchError: a consumer died or restarted FFmpeg, or produced no files.
    """
    agent_src, bare_src = free_port(socket.SOCK_DGRAM), free_port(socket.SOCK_DGRAM)
    publishers = [publish(procs, clip, agent_src), publish(procs, clip, bare_src)]
    wait_bound(agent_src, publishers[0])
    wait_bound(bare_src, publishers[1])
    agent_dir, bare_dir = tmp / "agent", tmp / "bare"
    agent = start_agent(procs, agent_dir, agent_src)
    argv = bare_argv(agent_dir, bare_src, bare_dir / "parts")
    bare = start_bare(procs, argv)
    with httpx.Client(timeout=5) as client:
        wait_status(client, agent, lambda s: s.phase == "Recording", timeout_s=60, what="Recording")
        deadline = time.monotonic() + 60
        while bare.first_block is None:
            if bare.proc.poll() is not None or time.monotonic() > deadline:
                raise BenchError(f"bare ffmpeg never reported progress: {list(bare.stderr)}")
            time.sleep(STATUS_POLL_S)
        logged = _logged_argv(agent)
        expected = " ".join(argv).replace(str(bare_dir / "parts"), str(agent_dir / "work" / "parts"))
        expected = expected.replace(f":{bare_src} ", f":{agent_src} ")
        same_argv = logged == expected
        agent_ps = psutil.Process(agent.proc.pid)
        time.sleep(warmup_s)
        first = sample(client, agent, agent_ps, bare)
        since = 0
        next_poll = time.monotonic() + poll_s
        while bare.media_s(time.time()) - first.bare_media < seconds:
            time.sleep(0.1)
            if agent.proc.poll() is not None:
                raise BenchError(f"agent died during the window: {agent.log()[-2000:]}")
            if bare.proc.poll() is not None:
                raise BenchError(f"bare ffmpeg died during the window: {list(bare.stderr)}")
            if time.monotonic() >= next_poll:  # the controller's poll
                next_poll += poll_s
                status = _status(client, agent, since)
                if status is None:
                    raise BenchError(f"agent /status failed during the window: {agent.log()[-2000:]}")
                since = max([since, *(f.index + 1 for f in status.files)])
        last = sample(client, agent, agent_ps, bare)
        children = agent_ps.children(recursive=True)
        rss_agent = _vm(agent.proc.pid)
        rss_agent_ffmpeg = max((_vm(c.pid)["VmHWM"] for c in children), default=0)
        rss_bare = _vm(bare.proc.pid)["VmHWM"]
    _stop_agent(agent)
    bare_rc = _stop(bare.proc, 20)
    for publisher in publishers:
        _stop(publisher, 5)
    if bare_rc not in (0, 255):
        raise BenchError(f"bare ffmpeg exited {bare_rc}: {list(bare.stderr)}")
    agent_files = sorted((agent_dir / "volume").rglob("*.mp4"))
    bare_files = sorted((bare_dir / "parts").glob("seg_*.mp4"))
    if not agent_files or not bare_files:
        raise BenchError(f"no files: agent {len(agent_files)}, bare ffmpeg {len(bare_files)}")
    return SideBySide(
        media_agent_s=last.agent_media - first.agent_media,
        media_bare_s=last.bare_media - first.bare_media,
        cpu_agent_py_s=last.agent_py - first.agent_py,
        cpu_agent_ffmpeg_s=last.agent_children - first.agent_children,
        cpu_bare_s=last.bare - first.bare,
        rss_agent_peak=rss_agent["VmHWM"],
        rss_agent_now=rss_agent["VmRSS"],
        rss_agent_ffmpeg_peak=rss_agent_ffmpeg,
        rss_bare_peak=rss_bare,
        recorded_agent_s=_media_duration_s(agent_files),
        recorded_bare_s=_media_duration_s(bare_files),
        files_agent=len(agent_files),
        files_bare=len(bare_files),
        same_argv=same_argv,
        argv=argv,
    )


@dataclass
class Latencies:
    """Seconds per run."""

    absent_s: list[float] = field(default_factory=list)
    available_to_progress: list[float] = field(default_factory=list)
    agent_start_to_progress: list[float] = field(default_factory=list)
    bare_start_to_progress: list[float] = field(default_factory=list)


def latency_runs(procs: Processes, tmp: Path, clip: Path, runs: int, absent_s: float) -> Latencies:
    """Measure the latencies (module docstring, step 2) `runs` times each.

    Raises:
        BenchError: the agent or bare FFmpeg never reported progress.
    """
    out = Latencies()
    with httpx.Client(timeout=5) as client:
        for run in range(runs):
            # The agent first; the publisher appears `absent` s after its first FFmpeg was started.
            absent = absent_s * (run + 1) / runs
            src = free_port(socket.SOCK_DGRAM)
            agent = start_agent(procs, tmp / f"late-{run}", src)
            wait_status(client, agent, lambda s: s.sessions >= 1, timeout_s=30, what="an FFmpeg session")
            time.sleep(absent)
            out.absent_s.append(absent)
            publisher = publish(procs, clip, src)
            available = wait_bound(src, publisher)
            _, recording = wait_status(
                client, agent, lambda s: s.phase == "Recording", timeout_s=120, what="Recording"
            )
            out.available_to_progress.append(recording - available)
            _stop_agent(agent)
            _stop(publisher, 5)

            # The input first, then the agent.
            src = free_port(socket.SOCK_DGRAM)
            publisher = publish(procs, clip, src)
            wait_bound(src, publisher)
            started = time.monotonic()
            agent = start_agent(procs, tmp / f"early-{run}", src)
            _, recording = wait_status(
                client, agent, lambda s: s.phase == "Recording", timeout_s=60, what="Recording"
            )
            out.agent_start_to_progress.append(recording - started)
            _stop_agent(agent)
            _stop(publisher, 5)

            # Bare FFmpeg with the input available: the floor (probing, SRT handshake).
            src = free_port(socket.SOCK_DGRAM)
            publisher = publish(procs, clip, src)
            wait_bound(src, publisher)
            bare = start_bare(procs, bare_argv(tmp / f"early-{run}", src, tmp / f"bare-{run}"))
            deadline = time.monotonic() + 60
            while bare.first_block is None:
                if bare.proc.poll() is not None or time.monotonic() > deadline:
                    raise BenchError(f"bare ffmpeg never reported progress: {list(bare.stderr)}")
                time.sleep(BIND_POLL_S)
            out.bare_start_to_progress.append(bare.first_block - bare.spawned)
            _stop(bare.proc, 20)
            _stop(publisher, 5)
    return out


# ----------------------------------------------------------------------------------------- report


def transcode_spec(port: int) -> dict[str, Any]:
    """The LocalRecording spec of the transcode cost: 1080p30 x264 veryfast + two text overlays."""
    boxed = {"fontSize": 36, "box": True, "boxColor": "black@0.6"}
    return {
        "input": {"url": f"srt://127.0.0.1:{port}", "latency": SRT_LATENCY},
        "output": {"format": "mp4", "segmentDuration": SEGMENT},
        "transcoding": {"video": {"codec": "h264", "preset": "veryfast", "bitrateKbps": 6000}},
        "textOverlays": [
            {"clock": {"format": "%Y-%m-%d %H:%M:%S"}, "position": {"x": 40, "y": 40}, **boxed},
            {"text": "Studio A: live", "position": {"x": 40, "y": 980}, **boxed},
        ],
        "storage": {"vendor": "volume", "volume": {"claimName": "bench"}, "prefix": ["bench"]},
    }


@dataclass
class TranscodeCost:
    """CPU seconds per media second of the transcode, the speed it kept, its argv."""

    cpu_per_media_s: float
    speed: float
    media_s: float
    argv: list[str]


def outputs_spec(port: int) -> dict[str, Any]:
    """The LocalRecording spec of the three-output cost: archive + HLS playlist + thumbnails."""
    return {
        "input": {"url": f"srt://127.0.0.1:{port}", "latency": SRT_LATENCY},
        "output": {"format": "mp4", "segmentDuration": SEGMENT},
        "additionalOutputs": [
            {"name": "live", "format": "hls", "segmentDuration": "6s"},
            {"name": "thumbs", "format": "jpg", "segmentDuration": "10s", "width": 320},
        ],
        "storage": {"vendor": "volume", "volume": {"claimName": "bench"}, "prefix": ["bench"]},
    }


def transcode_cost(
    procs: Processes,
    tmp: Path,
    clip: Path,
    *,
    seconds: float,
    warmup_s: float,
    spec_of: Callable[[int], dict[str, Any]] = transcode_spec,
    name: str = "transcode",
) -> TranscodeCost:
    """Bare FFmpeg recording `spec_of(port)` (default: `transcode_spec`) for `seconds` media s after
    `warmup_s` (see module doc), in `tmp/name`.

    Raises:
        BenchError: FFmpeg exited or made no progress.
    """
    from recording_operator.api.v1alpha1.localrecording import LocalRecordingSpec

    port = free_port(socket.SOCK_DGRAM)
    pub = publish(procs, clip, port)
    wait_bound(port, pub)
    spec = LocalRecordingSpec.model_validate(spec_of(port))
    work = tmp / name
    parts = work / "parts"
    parts.mkdir(parents=True, exist_ok=True)
    extra_parts = []
    for extra in spec.additionalOutputs or []:
        (work / extra.name).mkdir()
        extra_parts.append((work / extra.name, 0))
    text_files: list[Path | None] = []
    for i, overlay in enumerate(spec.textOverlays or []):
        content = ff.text_file_content(overlay)
        if content is None:
            text_files.append(None)
            continue
        path = work / f"text-{i}.txt"
        path.write_text(content, encoding="utf-8")
        text_files.append(path)
    argv = ff.build_argv(
        spec,
        parts_dir=parts,
        start_index=0,
        text_files=text_files,
        extra_parts=extra_parts,
        stats_period_s=1.0,
    )
    bare = start_bare(procs, argv)
    ps = psutil.Process(bare.proc.pid)

    def media_now() -> float:
        if bare.proc.poll() is not None:
            raise BenchError(f"{name} ffmpeg exited {bare.proc.returncode}: {list(bare.stderr)[-3:]}")
        return bare.media_s(time.time())

    deadline = time.monotonic() + warmup_s * 4 + 30
    while media_now() < warmup_s:
        if time.monotonic() > deadline:
            raise BenchError(f"{name} ffmpeg made no progress")
        time.sleep(0.2)
    cpu0, media0, wall0 = _cpu_s(ps), media_now(), time.monotonic()
    deadline = wall0 + seconds * 4 + 30
    while media_now() < media0 + seconds and time.monotonic() < deadline:
        time.sleep(0.2)
    cpu1, media1, wall1 = _cpu_s(ps), media_now(), time.monotonic()
    _stop(bare.proc, 30)
    _stop(pub, 5)
    media = media1 - media0
    if media <= 0:
        raise BenchError(f"{name} ffmpeg wrote no media in the window")
    return TranscodeCost((cpu1 - cpu0) / media, media / (wall1 - wall0), media, argv)


def report_transcode(cost: TranscodeCost) -> None:
    """Print the transcode cost."""
    print(
        "\ntranscode cost: SRT 1080p30 H.264 6 Mb/s → libx264 veryfast 1080p30 6 Mb/s with two text overlays"
        " (boxed UTC clock + static title), audio copied, 10 s fMP4 segments"
    )
    print("  " + " ".join(cost.argv))
    print(
        f"  CPU s per media s: {cost.cpu_per_media_s:.3f}   speed: {cost.speed:.2f}x"
        f"   media s: {cost.media_s:.1f}"
    )


def report_outputs(cost: TranscodeCost, single: SideBySide | None) -> None:
    """Print the three-output cost (and the one-output stream copy's, when measured)."""
    print(
        "\nthree-output cost: SRT 1080p30 H.264 6 Mb/s → one FFmpeg: 10 s fMP4 archive (copy) + HLS event"
        " playlist, 6 s segments (copy) + 320 px jpg thumbnail every 10 s"
    )
    print("  " + " ".join(cost.argv))
    print(
        f"  CPU s per media s: {cost.cpu_per_media_s:.3f}   speed: {cost.speed:.2f}x   media s: {cost.media_s:.1f}"
        + (f"   (one output, stream copy: {single.per_media_bare:.3f})" if single is not None else "")
    )


def _verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def report(
    sbs: SideBySide, lat: Latencies, *, seconds: float, runs: int, absent_s: float, poll_s: float
) -> None:
    """Print the figures with the targets next to them."""
    rows: list[tuple[str, str, str, str, str]] = [
        ("CPU s per media s", f"{sbs.per_media_agent:.4f}", f"{sbs.per_media_bare:.4f}", "", ""),
        ("  agent Python alone", f"{sbs.cpu_agent_py_s / sbs.media_agent_s:.4f}", "", "", ""),
        ("  agent's ffmpeg alone", f"{sbs.cpu_agent_ffmpeg_s / sbs.media_agent_s:.4f}", "", "", ""),
        ("agent Python alone (% of bare ffmpeg CPU)", f"{sbs.python_pct:+.1f}", "", "", ""),
        ("agent's ffmpeg vs bare ffmpeg (%, same argv)", f"{sbs.ffmpeg_delta_pct:+.1f}", "", "", ""),
        (
            "agent adds (% of bare ffmpeg CPU)",
            f"{sbs.overhead_pct:+.1f}",
            "",
            f"≤ {TARGET_OVERHEAD_PCT:.0f} %",
            _verdict(sbs.overhead_pct <= TARGET_OVERHEAD_PCT),
        ),
        (
            "CPU s in the window",
            f"{sbs.cpu_agent_py_s + sbs.cpu_agent_ffmpeg_s:.2f}",
            f"{sbs.cpu_bare_s:.2f}",
            "",
            "",
        ),
        ("media s in the window (progress)", f"{sbs.media_agent_s:.2f}", f"{sbs.media_bare_s:.2f}", "", ""),
        ("media s recorded (ffprobe)", f"{sbs.recorded_agent_s:.1f}", f"{sbs.recorded_bare_s:.1f}", "", ""),
        ("files", f"{sbs.files_agent}", f"{sbs.files_bare}", "", ""),
    ]
    if lat.available_to_progress:
        med, worst = statistics.median(lat.available_to_progress), max(lat.available_to_progress)
        rows += [
            ("input available → first progress, median (s)", f"{med:.2f}", "", f"≤ {TARGET_LATENCY_S:.0f} s",
             _verdict(med <= TARGET_LATENCY_S)),
            ("input available → first progress, max (s)", f"{worst:.2f}", "", f"≤ {TARGET_LATENCY_S:.0f} s",
             _verdict(worst <= TARGET_LATENCY_S)),
            ("start → first progress, input up, median (s)",
             f"{statistics.median(lat.agent_start_to_progress):.2f}",
             f"{statistics.median(lat.bare_start_to_progress):.2f}", "info", ""),
            ("start → first progress, input up, max (s)", f"{max(lat.agent_start_to_progress):.2f}",
             f"{max(lat.bare_start_to_progress):.2f}", "info", ""),
        ]  # fmt: skip
    rows += [
        ("agent peak RSS, Python alone (MB)", f"{sbs.rss_agent_peak / MB:.1f}", "", f"≤ {TARGET_RSS_MB:.0f} MB",
         _verdict(sbs.rss_agent_peak / MB <= TARGET_RSS_MB)),
        ("  agent RSS at the end (MB)", f"{sbs.rss_agent_now / MB:.1f}", "", "", ""),
        ("ffmpeg peak RSS (MB)", f"{sbs.rss_agent_ffmpeg_peak / MB:.1f}", f"{sbs.rss_bare_peak / MB:.1f}", "", ""),
    ]  # fmt: skip
    print(
        f"\nrecorder bench: SRT pull (caller, latency {SRT_LATENCY}), stream copy of 1080p30 H.264 6 Mb/s"
        f" + AAC 128 kb/s → {SEGMENT} fMP4 segments on local disk; {seconds:.0f} media s side by side;"
        f" {runs} latency runs (input absent up to {absent_s:g} s); /status polled every {poll_s:g} s"
    )
    print(f"ffmpeg argv (bare; the agent's is identical but for port and directory: {sbs.same_argv}):")
    print("  " + " ".join(sbs.argv))
    width = max(len(r[0]) for r in rows) + 2
    header = f"{'':{width}}{'agent + ffmpeg':>16}{'bare ffmpeg':>14}{'target':>10}{'result':>8}"
    print("\n" + header)
    print("-" * len(header))
    for name, agent, bare, target, verdict in rows:
        print(f"{name:{width}}{agent:>16}{bare:>14}{target:>10}{verdict:>8}")
    if lat.available_to_progress:
        print("\nper run (s): input absent " + json.dumps([round(x, 1) for x in lat.absent_s])
              + "; input available → first progress "
              + json.dumps([round(x, 2) for x in lat.available_to_progress])
              + "; agent start → first progress (input up) "
              + json.dumps([round(x, 2) for x in lat.agent_start_to_progress])
              + "; bare " + json.dumps([round(x, 2) for x in lat.bare_start_to_progress]))  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    """Run the bench and print the table; 1 when the recording broke, else 0 (missed targets too)."""
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=60.0, help="media seconds measured side by side")
    parser.add_argument("--warmup", type=float, default=5.0, help="seconds recorded before the window")
    parser.add_argument("--latency-runs", type=int, default=5, help="repetitions of each latency case")
    parser.add_argument(
        "--absent",
        type=float,
        default=30.0,
        help="longest time the input is unavailable after the agent started (runs spread up to it)",
    )
    parser.add_argument(
        "--status-poll",
        type=float,
        default=Settings.localrecording_poll_interval_s,
        help="seconds between the /status polls during the CPU window (default: the controller's)",
    )
    parser.add_argument("--clip-seconds", type=int, default=20, help="length of the looped source clip")
    parser.add_argument(
        "--transcode-seconds", type=float, default=30.0, help="media seconds of the transcode cost (0: skip)"
    )
    parser.add_argument("--transcode-only", action="store_true", help="measure only the transcode cost")
    parser.add_argument(
        "--outputs-seconds", type=float, default=30.0, help="media seconds of the three-output cost (0: skip)"
    )
    parser.add_argument("--outputs-only", action="store_true", help="measure only the three-output cost")
    args = parser.parse_args(argv)

    def interrupted(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupted)
    procs = Processes()
    try:
        with tempfile.TemporaryDirectory(prefix="recorder-bench-") as tmp_name:
            try:
                tmp = Path(tmp_name)
                clip = tmp / "clip.ts"
                print(f"encoding the {args.clip_seconds} s source clip ...", file=sys.stderr, flush=True)
                encode_clip(clip, args.clip_seconds)
                sbs = lat = None
                if not (args.transcode_only or args.outputs_only):
                    print(f"side by side for {args.seconds:g} media s ...", file=sys.stderr, flush=True)
                    sbs = side_by_side(
                        procs, tmp, clip, seconds=args.seconds, warmup_s=args.warmup, poll_s=args.status_poll
                    )
                    print(f"{args.latency_runs} latency runs ...", file=sys.stderr, flush=True)
                    lat = latency_runs(procs, tmp, clip, args.latency_runs, args.absent)
                cost = outputs = None
                if args.outputs_seconds > 0 and not args.transcode_only:
                    print(
                        f"three-output cost for {args.outputs_seconds:g} media s ...",
                        file=sys.stderr,
                        flush=True,
                    )
                    outputs = transcode_cost(
                        procs, tmp, clip, seconds=args.outputs_seconds, warmup_s=args.warmup,
                        spec_of=outputs_spec, name="outputs",
                    )  # fmt: skip
                if args.transcode_seconds > 0 and not args.outputs_only:
                    print(
                        f"transcode cost for {args.transcode_seconds:g} media s ...",
                        file=sys.stderr,
                        flush=True,
                    )
                    cost = transcode_cost(
                        procs, tmp, clip, seconds=args.transcode_seconds, warmup_s=args.warmup
                    )
            finally:
                procs.close()  # before the temp dir goes
    except BenchError as exc:
        print(f"recorder bench FAILED: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("recorder bench interrupted (every process it started is stopped)", file=sys.stderr)
        return 130
    if sbs is not None and lat is not None:
        report(
            sbs,
            lat,
            seconds=args.seconds,
            runs=args.latency_runs,
            absent_s=args.absent,
            poll_s=args.status_poll,
        )
    if cost is not None:
        report_transcode(cost)
    if outputs is not None:
        report_outputs(outputs, sbs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
