"""The recorder agent: supervises FFmpeg, turns closed files into stored files, keeps the status
(`recorder.http` serves it, `recorder.main` runs the agent and writes the termination message).

Lifecycle (rules measured with Debian's FFmpeg 5.1.9):
1. Recover: part files left in the work dir by a previous container (the work volume outlives the
   Pod by default) are closed (csv-listed ones as complete, others as `partial`), renumbered from
   the configured next index and uploaded; FFmpeg numbers after them.
2. Sessions: run FFmpeg (argv from `ffmpeg.build_argv`), parse `-progress` blocks, and every POLL_S
   pick up closed files (new lines of the segment muxer's csv list, new entries of the HLS playlist;
   the list is read again only when its size, mtime or inode changed).
   A stall watchdog restarts FFmpeg when no progress block arrived within `stallTimeout` (FFmpeg
   prints none while its input is stalled). Whatever ends a session (input gone → exit 0,
   error, stall), the agent restarts FFmpeg with exponential backoff, continuing the numbering,
   until it is told to stop: exit codes do not say "finished" (when the input drops,
   FFmpeg exits 0; SIGINT/SIGTERM finalize and exit 255). The delay goes back to
   `backoffInitialMs` after a session with progress, or one that lasted WAITING_SESSION_S (it was
   waiting for its input, e.g. an SRT caller sending handshakes: not a crash loop).
   An SRT input is received by libsrt's `srt-live-transmit` writing into FFmpeg's stdin
   (`recorder.srt_relay`), which reports the link's statistics (`stats.srt`); the relay starts and
   ends with each FFmpeg session, and FFmpeg receives SRT itself when the relay cannot be used.
3. When FFmpeg dies without finalizing, its in-flight file is closed as `partial` if ffprobe opens it
   (fMP4/TS/MKV/FLV with `-flush_packets 1` stay playable after SIGKILL; a plain MP4 does not),
   else discarded.
4. `output.maxSize`: FFmpeg cuts short parts (`ffmpeg.max_size_chunk_seconds`); the agent keeps
   consecutive closed parts in an open group until the next part would not fit (`grouping.fits`), a
   part reaches segmentDuration (`grouping.ends_file`) or the FFmpeg session ends, then joins the group
   with the concat demuxer (stream copy) into one stored file, numbered when it is joined (so indices
   stay in order and without gaps). The parts stay in the work dir until the joined file is stored:
   a killed Pod's successor stores them as separate files (step 1).
5. Stop (SIGTERM, or `maxDuration`): FFmpeg gets SIGTERM (it finalizes, exit 255) and SIGKILL after
   `stopGraceS`; with `seamless` a continuous recording's parts are joined by the concat demuxer;
   every closed file is uploaded (bounded retries) and deleted locally; the agent exits 0, or 1 when
   a file could not be stored.
6. Store-only (`RecorderConfig.storeOnly`, the controller's last Pod of a recording that stops after
   its recorder was killed): step 1 and the uploads of step 5, no FFmpeg; exit 0 once all is stored.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import os
import shutil
import signal
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from urllib.parse import quote, urlsplit

import aiohttp

from recording_operator.api.agent import (
    ClosedFile,
    RecorderConfig,
    RecorderStatus,
    RecordingRef,
    url_with_credentials,
)
from recording_operator.api.destinations import resolved_problem
from recording_operator.api.timestamps import rfc3339
from recording_operator.api.v1alpha1.common import parse_duration
from recording_operator.api.v1alpha1.localrecording import (
    EXTENSIONS,
    PRIMARY_OUTPUT_NAME,
    InputStats,
    SrtStats,
    input_kind,
    quantity_bytes,
    unverifiable_tls,
)
from recording_operator.recorder import ffmpeg as ff
from recording_operator.recorder.env import tls_ca_file_from_env
from recording_operator.recorder.grouping import ends_file, fits
from recording_operator.recorder.metrics import RecorderMetrics
from recording_operator.recorder.progress import (
    CHATTER,
    ByteRate,
    InputStreamParser,
    ProgressBlock,
    ProgressParser,
    split_level,
)
from recording_operator.recorder.segments import read_playlist, read_segment_list, stored_playlist
from recording_operator.recorder.srt_relay import RELAY_BINARY, SrtStatsAccumulator, relay_argv, relay_problem
from recording_operator.storage import StorageError, Store

log = logging.getLogger("recording_operator.recorder")

#: Period of the session loop (s): closed files, live sizes, the stall watchdog. A stop or FFmpeg's
#: exit wakes it at once; the period only bounds how late a closed file is picked up.
POLL_S = 1.0
#: Files `/status` lists at most (the newest; `filesClosed` and `totalBytes` still count all).
STATUS_FILES_MAX = 1000
#: Largest overlay image the agent downloads (bytes).
OVERLAY_MAX_BYTES = 10 * 1024 * 1024
#: First-block grace for pull inputs: FFmpeg may connect and probe before any block (s).
PULL_FIRST_BLOCK_GRACE_S = 20.0
#: A session without progress that lasted this long was waiting for its input (an SRT caller
#: sending handshakes for its `connect_timeout`, a pull the watchdog gave up on), not crash-looping:
#: the next restart waits `backoffInitialMs` again instead of a doubled delay (s).
WAITING_SESSION_S = 5.0
#: SIGTERM → SIGKILL wait for the SRT relay after its FFmpeg exited (s).
RELAY_GRACE_S = 2.0


def _size(path: Path) -> int:
    return path.stat().st_size


def _remove(path: Path) -> None:
    path.unlink(missing_ok=True)


def _signature(path: Path) -> tuple[int, int, int] | None:
    """(inode, size, mtime ns) of `path`, None when it does not exist: a changed value means the
    file was rewritten or appended to."""
    try:
        st = path.stat()
    except OSError:
        return None
    return (st.st_ino, st.st_size, st.st_mtime_ns)


def _moving_order(path: Path) -> int:
    """The position in a `recovered/moving-<n>` name (an interrupted recovery's order)."""
    try:
        return int(path.name.split("-")[1])
    except (IndexError, ValueError):
        return 0


@dataclass
class _Output:
    """One output of the FFmpeg process (`spec.output` or one of `spec.additionalOutputs`) and the
    agent's state of it: FFmpeg writes its parts into `parts_dir` (`seg_<part number>.<ext>`).

    `own_numbering` (the recording has `output` alone): FFmpeg's part number is the file's `{index}`,
    as before additional outputs existed. Otherwise each output's parts are numbered by FFmpeg on
    their own and every closed file takes the next `{index}` of the recording (`status.nextIndex`),
    so indices never repeat across outputs.
    """

    name: str
    fmt: str
    template: str
    parts_dir: Path
    recovered_dir: Path
    #: False for one continuous file per session (the primary output only).
    segmented: bool
    own_numbering: bool
    #: jpg: seconds between two thumbnails.
    interval_s: float = 0.0
    #: Part numbers of this Pod already closed (not those of recovered files).
    handled: set[int] = dataclasses.field(default_factory=set)
    #: `_signature` of the output's closed-file list at the last complete pass of `_collect_output`.
    list_seen: tuple[int, int, int] | None = None
    #: FFmpeg's number of this output's next part; the first of the current session.
    next_part: int = 0
    session_start: int = 0
    #: hls: part file name → stored name, for closed parts, and the part names already stored.
    hls_names: dict[str, str] = dataclasses.field(default_factory=dict)
    hls_stored: set[str] = dataclasses.field(default_factory=set)
    #: hls: the `{index}` in the stored playlist's name (the first index of this Pod).
    hls_first_index: int = 0


@dataclass
class _Closed:
    """A closed local file waiting for upload; `absorbed`: the parts joined into it, deleted once it
    is stored (until then a killed Pod's successor stores them instead)."""

    path: Path
    info: ClosedFile
    output: _Output | None = None
    attempts: int = 0
    absorbed: list[Path] = dataclasses.field(default_factory=list)


@dataclass
class _Part:
    """A closed part of a recording with `output.maxSize` waiting in the open group: its path, start,
    duration (ms), size (bytes) and span in the session's media time (s, from the segment list)."""

    path: Path
    start: datetime
    duration_ms: int
    size: int
    span_s: tuple[float, float]


@dataclass
class _Session:
    """State of one FFmpeg run."""

    start_index: int
    launched_wall: datetime
    launched_mono: float
    proc: asyncio.subprocess.Process
    anchor: datetime | None = None
    last_block_mono: float | None = None
    blocks: int = 0
    stalled: bool = False
    killed_by_agent: bool = False
    #: FFmpeg's last `[tls @ ...]` error line of this run (certificate verification), if any.
    tls_error: str | None = None
    #: The SRT relay feeding FFmpeg's stdin (`recorder.srt_relay`), None when FFmpeg reads the input.
    relay: asyncio.subprocess.Process | None = None


class Recorder:
    """One recording: FFmpeg supervision, file closing/upload, status and metrics."""

    def __init__(
        self,
        config: RecorderConfig,
        *,
        work_dir: Path,
        store: Store,
        passphrase: str | None = None,
        credentials: Mapping[str, str] | None = None,
        ffmpeg_bin: str = "ffmpeg",
        ffprobe_bin: str = "ffprobe",
        relay_bin: str = RELAY_BINARY,
    ) -> None:
        """Prepare the work dir (`parts/`, `joined/`); nothing runs until `run()`.

        `relay_bin`: libsrt's `srt-live-transmit`, looked up on PATH; an SRT input is received by it
        (`recorder.srt_relay`) unless it is missing or `relay_problem` gives another reason, which
        `stats.srt.unavailableReason` then shows while FFmpeg receives SRT itself.

        `credentials`: `username`, `password`, `streamKey` of `input.credentialsSecretRef` (from the
        environment), added to the input URL only in FFmpeg's argv (`url_with_credentials`) and
        redacted from every log line and status error, like `passphrase`.
        """
        self.config = config
        self.spec = config.spec
        self.work_dir = work_dir
        self.parts_dir = work_dir / "parts"
        self.joined_dir = work_dir / "joined"
        self.parts_dir.mkdir(parents=True, exist_ok=True)
        self.joined_dir.mkdir(parents=True, exist_ok=True)
        self.store = store
        self._passphrase = passphrase
        self._secrets: list[str | None] = [passphrase]
        if self.spec.input.url:
            self._secrets.append(urlsplit(self.spec.input.url).password)
        creds = dict(credentials or {})
        self._run_spec = self.spec
        if self.spec.input.url and creds:
            url = url_with_credentials(
                self.spec.input.url,
                username=creds.get("username"),
                password=creds.get("password"),
                stream_key=creds.get("streamKey"),
            )
            self._run_spec = self.spec.model_copy(
                update={"input": self.spec.input.model_copy(update={"url": url})}
            )
            for key in ("password", "streamKey"):
                if creds.get(key):
                    self._secrets += [creds[key], quote(creds[key], safe="")]
        self._ffmpeg = ffmpeg_bin
        self._ffprobe = ffprobe_bin
        self.metrics = RecorderMetrics()
        self._byte_rate = ByteRate()
        #: Names of parts already in `status.totalBytes` that wait on disk for their upload.
        self._published_parts: set[str] = set()
        self.status = RecorderStatus(
            recording=RecordingRef(**config.recording.model_dump()),
            startedAt=rfc3339(ff.now_utc(), microseconds=True),
            nextIndex=config.numbering.nextIndex,
        )
        self._fmt = self.spec.output.format
        self._segmented = ff.segment_seconds(self.spec) is not None
        self._join = self.spec.seamless and not self._segmented
        #: `output.maxSize` (bytes) of a segmented recording: parts are grouped into files.
        self._max_bytes = (
            quantity_bytes(self.spec.output.maxSize) if self.spec.output.maxSize and self._segmented else None
        )
        self._file_s = ff.file_seconds(self.spec)
        self._group: list[_Part] = []
        extras = self.spec.additionalOutputs or []
        self._primary = _Output(
            PRIMARY_OUTPUT_NAME,
            self._fmt,
            self.spec.output.fileNameTemplate,
            self.parts_dir,
            work_dir / "recovered",
            self._segmented,
            own_numbering=not extras and self._max_bytes is None,
        )
        self._outputs = [self._primary]
        for extra in extras:
            where = work_dir / "outputs" / extra.name
            (where / "parts").mkdir(parents=True, exist_ok=True)
            self._outputs.append(
                _Output(
                    extra.name,
                    extra.format,
                    extra.fileNameTemplate,
                    where / "parts",
                    where / "recovered",
                    True,
                    own_numbering=False,
                    interval_s=ff.thumbnail_interval_s(extra) if extra.format == "jpg" else 0.0,
                )
            )
        self._stop = asyncio.Event()
        self.stop_reason: str | None = None
        self._queue: asyncio.Queue[_Closed] = asyncio.Queue()
        #: Closed files not yet stored: index → size (bytes).
        self._pending: dict[int, int] = {}
        #: Bytes of the parts FFmpeg still writes (not yet closed files), from the last poll.
        self._live_bytes = 0
        self._join_parts: list[_Closed] = []
        self._session: _Session | None = None
        self._stderr: deque[str] = deque(maxlen=20)
        self._upload_gave_up = False
        #: The cause of the last failed upload (None after a success), to log each cause once.
        self._upload_cause: str | None = None
        self._sdp_path: Path | None = None
        self._overlay_path: Path | None = None
        self._text_files: list[Path | None] = []
        # `input.tls.caConfigMapRef`: the mounted CA bundle (config.py), checked in _prepare_inputs.
        self._ca_file = tls_ca_file_from_env(self.spec)
        self._stats_period = config.agent.statsPeriodS
        self._relay_bin = shutil.which(relay_bin)
        #: Why FFmpeg receives the input itself (None: an SRT input received by the relay).
        self._relay_problem: str | None = "not an SRT input"
        if (self.spec.input.url or self.spec.input.listen) and input_kind(self.spec.input) == "srt":
            self._relay_problem = relay_problem(
                self.spec.input, passphrase=passphrase, binary=self._relay_bin
            )
            if self._relay_problem is not None:
                self._no_relay(self._relay_problem)

    # ----------------------------------------------------------------- public

    def request_stop(self, reason: str) -> None:
        """Ask for a graceful stop (idempotent): FFmpeg finalizes, files are stored, `run()` returns."""
        if not self._stop.is_set():
            self.stop_reason = reason
            log.info("stop requested: %s", reason)
            self._stop.set()

    def status_json(self, *, since_index: int = 0) -> str:
        """The `/status` document as JSON, files with `index >= since_index` only."""
        doc = self.status.model_copy(
            update={"files": [f for f in self.status.files if f.index >= since_index]}
        )
        return doc.model_dump_json()

    async def run(self) -> int:
        """Record until stopped; returns the process exit code (0 stored everything, 1 otherwise)."""
        uploader = asyncio.create_task(self._uploader(), name="recorder-uploader")
        timer: asyncio.Task[None] | None = None
        try:
            try:
                if not self.config.storeOnly:
                    await self._prepare_inputs()
                await self._recover()
            except (OSError, ValueError, aiohttp.ClientError) as exc:
                self._error(f"cannot start: {exc}")
                self.status.phase = "Failed"
                self._stop.set()
            if self.config.storeOnly:
                # Store what the work dir holds (recovered above, being uploaded), record nothing.
                self.request_stop("store-only")
            if self.spec.maxDuration and not self.config.storeOnly:
                timer = asyncio.create_task(self._max_duration_timer(), name="recorder-max-duration")
            backoff_ms = self.config.agent.backoffInitialMs
            while not self._stop.is_set():
                began = time.monotonic()
                had_progress = await self._run_session()
                waited = time.monotonic() - began >= WAITING_SESSION_S
                if self._stop.is_set():
                    break
                self.status.reconnects += 1
                self.status.stats.reconnects = self.status.reconnects
                self.metrics.reconnects.inc()
                self.status.phase = "Reconnecting"
                self.metrics.recording.set(0)
                if had_progress or waited:
                    backoff_ms = self.config.agent.backoffInitialMs
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stop.wait(), backoff_ms / 1000)
                backoff_ms = min(max(backoff_ms * 2, 1), self.config.agent.backoffMaxMs)
            failed = self.status.phase == "Failed"
            if not failed:
                self.status.phase = "Stopping"
            self.metrics.recording.set(0)
            if self._join:
                await self._join_and_enqueue()
            await self._drain_uploads()
            for out in self._outputs:
                if out.fmt == "hls":
                    await self._upload_playlist(out)
            if not failed:
                self.status.phase = "Stopped"
            self.status.stoppedAt = rfc3339(ff.now_utc(), microseconds=True)
            return 1 if failed or self._upload_gave_up or self._queue.qsize() else 0
        finally:
            if timer:
                timer.cancel()
            uploader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await uploader

    # ------------------------------------------------------------ preparation

    async def _check_encoder(self) -> None:
        """Fail early, with the encoder's name, when this image's FFmpeg lacks the video encoder the
        spec asks for (hardware encoders are built only into some images): `ffmpeg -encoders`
        lists the encoders compiled in, one per line after the ` ------` header
        (https://ffmpeg.org/ffmpeg.html#Generic-options).

        Raises:
            ValueError: the encoder is not listed.
            OSError: ffmpeg cannot be run.
        """
        encoder = ff.video_encoder(self.spec)
        if encoder is None:
            return
        proc = await asyncio.create_subprocess_exec(
            self._ffmpeg, "-hide_banner", "-encoders",
            stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL,
        )  # fmt: skip
        out, _ = await proc.communicate()
        lines = out.decode(errors="replace").splitlines()
        header_end = next((i for i, line in enumerate(lines) if line.strip() == "------"), -1)
        names = {fields[1] for line in lines[header_end + 1 :] if len(fields := line.split()) >= 2}
        if encoder not in names:
            hardware = sorted(n for n in names if n.startswith(("h264_", "hevc_")))
            raise ValueError(
                f"video encoder {encoder} (transcoding.video.codec) is not in this recorder image's FFmpeg "
                f"(`ffmpeg -encoders`); its h264/hevc encoders: libx264, libx265"
                + (f", {', '.join(hardware)}" if hardware else "")
            )

    def _write_text_files(self) -> None:
        """One file per text overlay with what drawtext draws (`text_file_content`); None for a timecode."""
        self._text_files = []
        for i, overlay in enumerate(self.spec.textOverlays or []):
            content = ff.text_file_content(overlay)
            if content is None:
                self._text_files.append(None)
                continue
            path = self.work_dir / f"text-{i}.txt"
            path.write_text(content, encoding="utf-8")
            self._text_files.append(path)

    async def _prepare_inputs(self) -> None:
        """Check the video encoder, write the text overlays' files and the SDP, check the TLS settings
        and the CA file, download the overlay.

        Raises:
            ValueError: the image's FFmpeg lacks the video encoder, TLS verification asked for an input
                FFmpeg cannot verify, a CA file without a PEM certificate, or an overlay over
                OVERLAY_MAX_BYTES.
            OSError: the CA file cannot be read.
            aiohttp.ClientError: the overlay download failed (its certificate included: aiohttp
                verifies against the system CAs).
        """
        await self._check_destinations()
        await self._check_encoder()
        self._write_text_files()
        problem = unverifiable_tls(self.spec.input)
        if problem:
            raise ValueError(problem)
        if self._ca_file is not None and b"-----BEGIN CERTIFICATE-----" not in self._ca_file.read_bytes():
            raise ValueError(f"CA file {self._ca_file} (input.tls.caConfigMapRef) holds no PEM certificate")
        if self.spec.input.sdp:
            self._sdp_path = self.work_dir / "input.sdp"
            self._sdp_path.write_text(self.spec.input.sdp, encoding="utf-8")
        if self.spec.overlay:
            self._overlay_path = self.work_dir / "overlay.img"
            # aiohttp (already the agent's HTTP server; httpx would cost ~10 MB of RSS) verifies the
            # certificate against the system CAs; `input.tls` is about the input's server, not the
            # overlay's, so its CA is not used here.
            timeout = aiohttp.ClientTimeout(total=30)
            async with aiohttp.ClientSession(timeout=timeout) as session:
                async with session.get(self.spec.overlay.imageUrl, allow_redirects=False) as response:
                    if response.status != 200:  # redirects are not followed: a 3xx fails too
                        raise ValueError(f"overlay image: HTTP {response.status} {response.reason}")
                    data = bytearray()
                    async for chunk in response.content.iter_chunked(64 * 1024):
                        data += chunk
                        if len(data) > OVERLAY_MAX_BYTES:
                            raise ValueError(f"overlay image larger than {OVERLAY_MAX_BYTES} bytes")
            self._overlay_path.write_bytes(bytes(data))

    async def _check_destinations(self) -> None:
        """The input URL, the overlay URL and the storage endpoint against the operator's destination
        policy (`config.policy`), after resolving their names here in the Pod: the controller checked
        them from its own network, which may resolve differently.

        Raises:
            ValueError: a destination is refused (the message names the field and the address kind).
        """
        urls = [("input.url", self.spec.input.url)] if self.spec.input.url else []
        if self.spec.overlay is not None:
            urls.append(("overlay.imageUrl", self.spec.overlay.imageUrl))
        endpoint = self.spec.storage.endpoint
        if endpoint:
            urls.append(("storage.endpoint", endpoint if "://" in endpoint else f"https://{endpoint}"))
        for field, url in urls:
            problem = await resolved_problem(url, self.config.policy, storage=field == "storage.endpoint")
            if problem is not None:
                raise ValueError(f"{field}: {problem}")

    async def _recover(self) -> None:
        """Store what a previous container left in each output's parts directory (`_recover_output`)."""
        for out in self._outputs:
            if out.fmt == "hls" and out.own_numbering:
                await self._recover_hls(out)
            else:
                await self._recover_output(out)
        for out in self._outputs:
            out.next_part = self.status.nextIndex if out.own_numbering else 0
            out.hls_first_index = self.status.nextIndex

    def _completed_parts(self, out: _Output) -> Mapping[str, int | None]:
        """Parts a previous container's FFmpeg closed in `out.parts_dir`, with their duration (ms;
        None: unknown). Segments: the csv list; hls: the playlist (which a renumbering output then
        drops: its next playlist starts afresh); jpg: every picture (atomic writes: a `.tmp` one is
        unfinished and deleted)."""
        if out.fmt == "jpg":
            for path in out.parts_dir.glob("*.tmp"):
                path.unlink(missing_ok=True)
            return {p.name: None for p in out.parts_dir.iterdir() if ff.parse_part_name(p.name) is not None}
        if out.fmt == "hls":
            found = {name: round(duration * 1000) for _, name, duration, _ in read_playlist(out.parts_dir)}
            (out.parts_dir / ff.HLS_PLAYLIST).unlink(missing_ok=True)
            return found
        found = {name: round((end - start) * 1000) for name, start, end in read_segment_list(out.parts_dir)}
        (out.parts_dir / ff.SEGMENT_LIST).unlink(missing_ok=True)
        return found

    async def _recover_output(self, out: _Output) -> None:
        """Store what a previous container of this recording left in the work dir.

        With a work volume that outlives the Pod, that is everything not yet stored when an agent was
        killed, its Pod evicted or deleted without grace, or a stop gave up uploading (storage
        unavailable). Files the segment muxer listed as closed count as complete, its in-flight file as
        `partial` when ffprobe opens it (fragmented MP4, MPEG-TS, MKV and FLV written with
        `-flush_packets 1` do after SIGKILL, measured with Debian's FFmpeg 5.1), else it is discarded.

        Except for hls, whose event playlist keeps its own numbering, the files are renumbered from
        `numbering.nextIndex` in their recording order (the controller records files from that index
        on; their old numbers may be taken or skipped) and moved to `recovered/` under their new part
        names before they are queued; FFmpeg then numbers after them.
        """
        recovered_dir = out.recovered_dir
        recovered_dir.mkdir(exist_ok=True)
        listed = self._completed_parts(out)
        # (path, known duration ms or None, partial): earlier recoveries first, then the parts.
        found: list[tuple[Path, int | None, bool]] = []
        earlier = sorted(
            (idx, p) for p in recovered_dir.iterdir() if (idx := ff.parse_part_name(p.name)) is not None
        )
        found += [(p, None, False) for _, p in earlier]
        found += [(p, None, False) for p in sorted(recovered_dir.glob("moving-*"), key=_moving_order)]
        leftovers = sorted(
            (idx, p)
            for p in out.parts_dir.iterdir()
            if (idx := ff.parse_part_name(p.name.removesuffix(".tmp"))) is not None
        )
        for _, path in leftovers:
            name = path.name.removesuffix(".tmp")
            found.append((path, listed.get(name), name not in listed))
        # Two renames, so that no new name overwrites a file still waiting under its old one.
        moving = []
        pass_id = time.time_ns()
        for n, (path, duration_ms, partial) in enumerate(found):
            target = recovered_dir / f"moving-{n:06d}-{pass_id}"
            path.rename(target)
            moving.append((target, duration_ms, partial))
        first = self.status.nextIndex
        for n, (path, duration_ms, partial) in enumerate(moving):
            index = first + n
            target = recovered_dir / ff.part_name(index, out.fmt)
            path.rename(target)
            probed = duration_ms
            if probed is None and out.fmt != "jpg":
                probed = await self._probe_duration_ms(target)
            end = datetime.fromtimestamp(target.stat().st_mtime).astimezone()
            start = end - timedelta(milliseconds=probed or 0)
            log.info("recovered %s of output %s as part %d%s", path.name, out.name, index,
                     " (partial)" if partial else "")  # fmt: skip
            await self._close_file(out, target, None, index, start, duration_ms, partial=partial)
        self.status.nextIndex = max(self.status.nextIndex, first + len(moving))

    async def _recover_hls(self, out: _Output) -> None:
        """hls alone: store the segments a previous container left (numbering continues after them,
        in the same event playlist)."""
        listed = {name: (start, end) for name, start, end in read_segment_list(out.parts_dir)}
        highest = self.config.numbering.nextIndex - 1
        for index, name, _, _ in read_playlist(out.parts_dir):
            highest = max(highest, index)
            out.handled.add(index)
            part = f"{ff.PART_PREFIX}{index:06d}.ts"
            out.hls_names.setdefault(part, name)
            out.hls_stored.add(part)
        leftovers = sorted(
            (idx, p)
            for p in out.parts_dir.iterdir()
            if (idx := ff.parse_part_name(p.name.removesuffix(".tmp"))) is not None
        )
        for index, path in leftovers:
            highest = max(highest, index)
            if path.suffix == ".tmp":
                path = path.rename(path.with_suffix(""))
            span = listed.get(path.name)
            start = datetime.fromtimestamp(path.stat().st_mtime).astimezone()
            await self._close_file(
                out,
                path,
                index,
                index,
                start,
                None if span is None else round((span[1] - span[0]) * 1000),
                partial=span is None,
            )
        self.status.nextIndex = highest + 1

    # --------------------------------------------------------------- sessions

    async def _run_session(self) -> bool:
        """One FFmpeg run; returns True when it produced at least one progress block."""
        for out in self._outputs:
            if out.own_numbering:
                out.next_part = self.status.nextIndex
            out.session_start = out.next_part
        start_index = self._primary.session_start
        relayed = self._relay_problem is None
        argv = ff.build_argv(
            self._run_spec,
            parts_dir=self.parts_dir,
            start_index=start_index,
            extra_parts=[(out.parts_dir, out.session_start) for out in self._outputs[1:]],
            passphrase=self._passphrase,
            sdp_path=self._sdp_path,
            overlay_path=self._overlay_path,
            ca_file=self._ca_file,
            text_files=self._text_files,
            stats_period_s=self._stats_period,
            ffmpeg=self._ffmpeg,
            relayed=relayed,
        )
        argv[0] = self._ffmpeg
        log.info("starting ffmpeg: %s", " ".join(ff.redact_argv(argv, self._secrets)))
        media_out, media_in = os.pipe() if relayed else (None, None)
        try:
            proc = await asyncio.create_subprocess_exec(
                *argv,
                stdin=asyncio.subprocess.DEVNULL if media_out is None else media_out,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                start_new_session=True,
            )
        except OSError as exc:
            if media_in is not None:
                os.close(media_in)
            self._error(f"cannot run ffmpeg: {exc}")
            return False
        finally:
            if media_out is not None:
                os.close(media_out)
        self.status.sessions += 1
        session = _Session(start_index, ff.now_utc(), time.monotonic(), proc)
        self._session = session
        readers = [
            asyncio.create_task(self._read_progress(session)),
            asyncio.create_task(self._read_stderr(session)),
        ]
        if media_in is not None:
            readers += await self._start_relay(session, media_in)
        stop_wait = asyncio.create_task(self._stop.wait())
        exit_wait = asyncio.create_task(proc.wait())
        try:
            while not exit_wait.done():
                await asyncio.wait(
                    {exit_wait, stop_wait}, timeout=POLL_S, return_when=asyncio.FIRST_COMPLETED
                )
                await self._collect_closed(session)
                self._update_sizes()
                if exit_wait.done():
                    break
                if stop_wait.done():
                    await self._terminate(session)
                    break
                if self._stalled(session):
                    session.stalled = True
                    self.metrics.stalls.inc()
                    self._error(f"stall: no progress for {self.spec.input.stallTimeout}, restarting ffmpeg")
                    await self._terminate(session)
                    break
            returncode = await exit_wait
            await self._end_relay(session)
            await asyncio.gather(*readers, return_exceptions=True)
        finally:
            stop_wait.cancel()
            for task in readers:
                task.cancel()
            if session.relay is not None and session.relay.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    session.relay.kill()
        log.info("ffmpeg exited with %s after %d progress blocks", returncode, session.blocks)
        if returncode not in (0, 255) and not session.killed_by_agent and self._stderr:
            detail = self._stderr[-1]
            if session.tls_error and session.tls_error not in detail:
                detail = f"TLS: {session.tls_error} ({detail})"
            self._error(f"ffmpeg exited with {returncode}: {detail}")
        elif returncode == 0 and not self._stop.is_set() and self._stderr:
            self._error(f"input ended: {self._stderr[-1]}")
        await self._collect_closed(session)
        await self._flush_group()
        await self._close_leftovers(session, crashed=returncode not in (0, 255))
        self._session = None
        return session.blocks > 0

    def _no_relay(self, reason: str) -> None:
        """FFmpeg receives the SRT input itself from now on: `stats.srt` says why."""
        self._relay_problem = reason
        self.status.stats.srt = SrtStats(unavailableReason=reason)
        log.warning("SRT link statistics unavailable: %s; FFmpeg receives SRT itself", reason)

    async def _start_relay(self, session: _Session, media_in: int) -> list[asyncio.Task[None]]:
        """Start the SRT relay writing into FFmpeg's stdin (`media_in`, the pipe's write end, closed
        here), in its own session like FFmpeg (a terminal's SIGINT reaches neither; setpgid into
        FFmpeg's group is refused across sessions). The pipe couples them: FFmpeg reads EOF when the
        relay exits, the relay dies of EPIPE once FFmpeg is gone, and `_end_relay` ends a relay that
        writes nothing. Returns the tasks reading its statistics and its stderr. A relay that cannot be started (its binary gone)
        leaves FFmpeg an empty stdin (it ends at once) and later sessions without the relay.
        """
        assert self._relay_bin is not None
        stats_out, stats_in = os.pipe()
        argv = relay_argv(
            self.spec.input, passphrase=self._passphrase, stats_fd=stats_in, binary=self._relay_bin
        )
        log.info("starting SRT relay: %s", " ".join(ff.redact_argv(argv, self._secrets)))
        try:
            relay = await asyncio.create_subprocess_exec(
                *argv,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=media_in,
                stderr=asyncio.subprocess.PIPE,
                pass_fds=(stats_in,),
                start_new_session=True,
            )
        except OSError as exc:
            os.close(stats_out)
            self._no_relay(f"{RELAY_BINARY} could not be started: {exc}")
            return []
        finally:
            os.close(media_in)
            os.close(stats_in)
        session.relay = relay
        self.status.stats.srt = None
        return [
            asyncio.create_task(self._read_relay_stats(stats_out)),
            asyncio.create_task(self._read_relay_stderr(relay)),
        ]

    async def _end_relay(self, session: _Session) -> None:
        """After FFmpeg exited: SIGTERM its relay (one waiting for a peer writes nothing, so it would
        not notice), SIGKILL after RELAY_GRACE_S."""
        relay = session.relay
        if relay is None:
            return
        if relay.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                relay.terminate()
            try:
                await asyncio.wait_for(relay.wait(), RELAY_GRACE_S)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    relay.kill()
                await relay.wait()
        log.info("SRT relay exited with %s", relay.returncode)

    async def _read_relay_stats(self, fd: int) -> None:
        """srt-live-transmit's JSON reports (read end `fd` of its `-statsout` pipe) → `stats.srt`."""
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader()
        transport, _ = await loop.connect_read_pipe(
            lambda: asyncio.StreamReaderProtocol(reader), os.fdopen(fd, "rb", buffering=0)
        )
        try:
            totals = SrtStatsAccumulator()
            previous = SrtStats()
            async for raw in reader:
                stats = totals.feed(
                    raw.decode("utf-8", "replace"), now=rfc3339(ff.now_utc(), microseconds=True)
                )
                if stats is not None:
                    self.status.stats.srt = stats
                    self._srt_metrics(previous, stats)
                    previous = stats
        finally:
            transport.close()

    def _srt_metrics(self, previous: SrtStats, stats: SrtStats) -> None:
        """`/metrics` of one report: the gauges set, the counters advanced by what the session's
        sums grew since `previous` (so they keep counting across sessions)."""
        m = self.metrics
        if stats.rttMs is not None:
            m.srt_rtt_ms.set(stats.rttMs)
        if stats.receiveRateMbps is not None:
            m.srt_receive_rate_mbps.set(stats.receiveRateMbps)
        for counter, now, before in (
            (m.srt_packets_received, stats.packetsReceived, previous.packetsReceived),
            (m.srt_packets_lost, stats.packetsLost, previous.packetsLost),
            (m.srt_packets_retransmitted, stats.packetsRetransmitted, previous.packetsRetransmitted),
            (m.srt_packets_dropped, stats.packetsDropped, previous.packetsDropped),
        ):
            grown = (now or 0) - (before or 0)
            if grown > 0:
                counter.inc(grown)

    async def _read_relay_stderr(self, relay: asyncio.subprocess.Process) -> None:
        """The relay's messages (connection, errors) join FFmpeg's as error detail, secrets redacted;
        its "Media path" line (the whole URI) is dropped."""
        assert relay.stderr is not None
        async for raw in relay.stderr:
            line = ff.redact(raw.decode("utf-8", "replace").strip(), self._secrets)
            if line and not line.startswith("Media path:"):
                log.debug("%s: %s", RELAY_BINARY, line)
                self._stderr.append(f"{RELAY_BINARY}: {line}")

    def _stalled(self, session: _Session) -> bool:
        stall_s = parse_duration(self.spec.input.stallTimeout).total_seconds()
        now = time.monotonic()
        if session.last_block_mono is not None:
            return now - session.last_block_mono > stall_s
        if self.spec.input.listen is not None:
            return False  # waiting for a publisher is not a stall
        return now - session.launched_mono > max(stall_s * 2, PULL_FIRST_BLOCK_GRACE_S)

    async def _terminate(self, session: _Session) -> None:
        """SIGTERM (FFmpeg finalizes), then SIGKILL after `stopGraceS`."""
        session.killed_by_agent = True
        proc = session.proc
        if proc.returncode is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(proc.wait(), self.config.agent.stopGraceS)
        except TimeoutError:
            log.warning("ffmpeg did not exit %.0fs after SIGTERM: SIGKILL", self.config.agent.stopGraceS)
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()

    async def _read_progress(self, session: _Session) -> None:
        assert session.proc.stdout is not None
        parser = ProgressParser()
        async for raw in session.proc.stdout:
            block = parser.feed(raw.decode("utf-8", "replace"))
            if block is not None:
                self._on_block(session, block)

    def _on_block(self, session: _Session, block: ProgressBlock) -> None:
        now = ff.now_utc()
        session.blocks += 1
        session.last_block_mono = time.monotonic()
        if session.anchor is None and block.out_time_us:
            session.anchor = now - timedelta(microseconds=block.out_time_us)
        if not self._stop.is_set() and self.status.phase != "Failed":
            self.status.phase = "Recording"
        stats = self.status.stats
        bitrate = block.bitrate_kbps
        if bitrate is None and block.out_time_us is not None and stats.totalSizeBytes is not None:
            # Stream copy into the segment/HLS muxers: FFmpeg prints bitrate=N/A; measure it.
            bitrate = self._byte_rate.feed(stats.totalSizeBytes, block.out_time_us)
        stats.bitrateKbps = bitrate
        stats.fps = block.fps
        stats.frame = block.frame
        stats.outTimeMs = block.out_time_ms
        stats.speed = block.speed
        stats.dropFrames = block.drop_frames
        stats.dupFrames = block.dup_frames
        stats.progress = "end" if block.progress == "end" else "continue"
        stats.updatedAt = rfc3339(now, microseconds=True)
        m = self.metrics
        m.recording.set(1)
        for gauge, value in (
            (m.bitrate_kbps, bitrate),
            (m.fps, block.fps),
            (m.speed, block.speed),
            (m.out_time_seconds, None if block.out_time_us is None else block.out_time_us / 1e6),
        ):
            if value is not None:
                gauge.set(value)

    async def _read_stderr(self, session: _Session) -> None:
        """FFmpeg's stderr (`-loglevel level+info`): info-level chatter describes the input
        (`stats.input`); warnings and errors are kept (without their level tag) as error detail."""
        assert session.proc.stderr is not None
        streams = InputStreamParser()
        async for raw in session.proc.stderr:
            level, line = split_level(ff.redact(raw.decode("utf-8", "replace").rstrip(), self._secrets))
            if not line:
                continue
            log.debug("ffmpeg: %s", line)
            if level in CHATTER:
                if streams.feed(line):
                    self.status.stats.input = InputStats(**vars(streams.streams))
                continue
            self._stderr.append(line)
            if line.startswith("[tls @"):
                session.tls_error = line.split("] ", 1)[-1]

    def _update_sizes(self) -> None:
        """`stats.totalSizeBytes`: bytes of the published files (`status.totalBytes`) plus the parts
        FFmpeg still writes (a published part waiting for its upload is counted once)."""
        live = 0
        for out in self._outputs:
            for path in out.parts_dir.iterdir():
                with contextlib.suppress(OSError):
                    if str(path) in self._published_parts:
                        continue
                    if ff.parse_part_name(path.name.removesuffix(".tmp")) is not None:
                        live += path.stat().st_size
        total = self.status.totalBytes + live
        self._live_bytes = live
        self._sync_pending()
        self.status.stats.totalSizeBytes = total
        self.metrics.total_size_bytes.set(total)

    # ---------------------------------------------------------- closed files

    async def _collect_closed(self, session: _Session) -> None:
        """Close the files each output's muxer reported closed (csv list, HLS playlist, jpg written).

        An output's list is parsed only when its `_signature` changed since the last pass that left
        no listed file behind (a listed file not on disk yet is looked for again at the next pass).
        """
        anchor = session.anchor or session.launched_wall
        for out in self._outputs:
            await self._collect_output(out, anchor)

    async def _collect_output(self, out: _Output, anchor: datetime) -> None:
        if out.fmt == "jpg":
            pictures = sorted(
                (number, p)
                for p in out.parts_dir.iterdir()
                if (number := ff.parse_part_name(p.name)) is not None and number not in out.handled
            )
            for number, path in pictures:
                # `fps=1/N` emits the picture of media time (number - first) * N.
                start = anchor + timedelta(seconds=(number - out.session_start) * out.interval_s)
                await self._close_file(
                    out, path, number, self._index_for(out, number), start, None, partial=False
                )
            return
        if out.fmt == "hls" or out.segmented:
            listing = out.parts_dir / (ff.HLS_PLAYLIST if out.fmt == "hls" else ff.SEGMENT_LIST)
            seen = _signature(listing)
            if seen is None or seen != out.list_seen:
                out.list_seen = seen if await self._collect_listed(out, anchor) else None

    async def _collect_listed(self, out: _Output, anchor: datetime) -> bool:
        """Close the files `out`'s HLS playlist or segment list names; False when a listed file is
        not on disk yet (the next pass looks again)."""
        complete = True
        if out.fmt == "hls":
            for part, name, duration, pdt in read_playlist(out.parts_dir):
                if part in out.handled:
                    continue
                path = out.parts_dir / name
                if not path.exists():
                    complete = False
                    continue
                index = self._index_for(out, part)
                await self._close_file(
                    out, path, part, index, pdt or anchor, round(duration * 1000), partial=False
                )
            return complete
        for name, start_s, end_s in read_segment_list(out.parts_dir):
            seg = ff.parse_part_name(name)
            if seg is None or seg in out.handled or seg < out.session_start:
                continue
            path = out.parts_dir / name
            if not path.exists():
                complete = False
                continue
            begin = anchor + timedelta(seconds=start_s)
            duration_ms = round((end_s - start_s) * 1000)
            if self._max_bytes is not None and out is self._primary:
                out.handled.add(seg)
                out.next_part = max(out.next_part, seg + 1)
                self.metrics.files_closed.inc()
                log.debug("part %s of %s closed (%.3f-%.3f s)", name, out.name, start_s, end_s)
                await self._group_add(_Part(path, begin, duration_ms, _size(path), (start_s, end_s)))
                continue
            await self._close_file(
                out, path, seg, self._index_for(out, seg), begin, duration_ms, partial=False
            )
        return complete

    def _index_for(self, out: _Output, part: int) -> int:
        """The `{index}` of `out`'s closed part `part`: the part number when the output numbers its
        own files, else the recording's next index."""
        return part if out.own_numbering else self.status.nextIndex

    async def _close_leftovers(self, session: _Session, *, crashed: bool) -> None:
        """After FFmpeg exited: close its in-flight file(s) (continuous file, or a crash's partial)."""
        anchor = session.anchor or session.launched_wall
        for out in self._outputs:
            if out.fmt == "jpg":
                for path in out.parts_dir.glob("*.tmp"):
                    path.unlink(missing_ok=True)  # a picture FFmpeg did not finish
                continue
            for path in sorted(out.parts_dir.iterdir()):
                part = ff.parse_part_name(path.name.removesuffix(".tmp"))
                if part is None or part < out.session_start or part in out.handled:
                    continue
                if path.suffix == ".tmp":
                    path = path.rename(path.with_suffix(""))
                partial = out.segmented or crashed
                start = (
                    anchor if not out.segmented else datetime.fromtimestamp(path.stat().st_ctime).astimezone()
                )
                await self._close_file(
                    out, path, part, self._index_for(out, part), start, None, partial=partial
                )

    async def _probe_duration_ms(self, path: Path) -> int | None:
        """Media duration by ffprobe (ms), None when ffprobe cannot open the file."""
        try:
            proc = await asyncio.create_subprocess_exec(
                self._ffprobe, "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0", str(path),
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL,
            )  # fmt: skip
        except OSError:
            return None
        out, _ = await proc.communicate()
        if proc.returncode != 0:
            return None
        try:
            return round(float(out.decode().strip()) * 1000)
        except ValueError:
            return 0

    async def _close_file(
        self,
        out: _Output,
        path: Path,
        part: int | None,
        index: int,
        start: datetime,
        duration_ms: int | None,
        *,
        partial: bool,
    ) -> None:
        """Name, record and queue one closed file of `out` (discarding empty or unplayable ones, and
        partials without a playable frame): FFmpeg's part `part` (None: a recovered file), stored as
        `{index}` `index`. jpg pictures have no duration."""
        if part is not None:
            out.handled.add(part)
            out.next_part = max(out.next_part, part + 1)
        self.status.nextIndex = max(self.status.nextIndex, index + 1)
        size = _size(path)
        if out.fmt == "jpg":
            probed: int | None = 0
        elif duration_ms is None or partial:
            probed = await self._probe_duration_ms(path)
        else:
            probed = duration_ms
        if size == 0 or probed is None or (partial and probed == 0):
            # A partial of 0 ms is a header FFmpeg wrote just before it was killed, right after a cut.
            self._error(f"discarded unplayable file {path.name} ({size} bytes)")
            _remove(path)
            return
        if duration_ms is None and out.fmt != "jpg":
            duration_ms = probed
        self.metrics.files_closed.inc()
        item = self._closed_item(out, path, index, start, size, duration_ms, partial=partial)
        if out.fmt == "hls" and part is not None:
            out.hls_names[path.name] = item.info.name
        if self._join and out is self._primary:
            self._join_parts.append(item)
            return
        self._publish(item)

    def _closed_item(
        self,
        out: _Output,
        path: Path,
        index: int,
        start: datetime,
        size: int,
        duration_ms: int | None,
        *,
        partial: bool,
    ) -> _Closed:
        """The stored name and ClosedFile of `out`'s local file `path` as `{index}` `index`."""
        name = ff.render_file_name(
            out.template,
            recording=self.config.recording.name,
            namespace=self.config.recording.namespace,
            index=index,
            start=start,
            extension=EXTENSIONS[out.fmt],
            output=out.name,
        )
        key = self.store.key_for(name)
        info = ClosedFile(
            index=index,
            name=name,
            key=key,
            location=self.store.uri(key),
            format=out.fmt,
            output=out.name,
            sizeBytes=size,
            durationMs=duration_ms,
            startedAt=rfc3339(start.astimezone(ff.now_utc().tzinfo), microseconds=True),
            partial=partial,
        )
        log.info(
            "closed %s of %s → %s (%d bytes, %s ms%s)",
            path.name,
            out.name,
            name,
            size,
            duration_ms,
            ", partial" if partial else "",
        )
        return _Closed(path, info, out)

    def _publish(self, item: _Closed) -> None:
        self.status.files.append(item.info)
        self.status.files.sort(key=lambda f: f.index)
        self.status.filesClosed += 1
        if len(self.status.files) > STATUS_FILES_MAX:
            # Bounded memory and /status size: the oldest stored files go first (the controller has
            # long recorded them; one it missed is found in the bucket when the Pod ends).
            stored = [f for f in self.status.files if f.uploaded]
            drop = {id(f) for f in stored[: len(self.status.files) - STATUS_FILES_MAX]}
            self.status.files = [f for f in self.status.files if id(f) not in drop]
        self.status.totalBytes += item.info.sizeBytes
        for path in [item.path, *item.absorbed]:
            if any(path.parent == out.parts_dir for out in self._outputs):
                self._published_parts.add(str(path))
        self._pending[item.info.index] = item.info.sizeBytes
        self._sync_pending()
        self._queue.put_nowait(item)

    def _sync_pending(self) -> None:
        self.status.uploadPending = len(self._pending)
        self.status.uploadPendingBytes = sum(self._pending.values()) + self._live_bytes
        self.metrics.upload_pending.set(len(self._pending))

    async def _join_and_enqueue(self) -> None:
        """seamless + continuous: join the session parts into one file with the concat demuxer."""
        parts, self._join_parts = self._join_parts, []
        if len(parts) <= 1:
            for item in parts:
                self._publish(item)
            return
        first = parts[0]
        joined = await self._concat([p.path for p in parts])
        if joined is None:
            for item in parts:
                self._publish(item)
            return
        path, duration = joined
        info = first.info.model_copy(
            update={"sizeBytes": _size(path), "durationMs": duration, "partial": False}
        )
        log.info("joined %d parts into %s (%d ms)", len(parts), info.name, duration)
        self._publish(_Closed(path, info, first.output, absorbed=[p.path for p in parts]))

    async def _concat(self, paths: list[Path]) -> tuple[Path, int] | None:
        """Join the parts `paths` (in order) into `joined/<first part's name>` with the concat demuxer
        (https://ffmpeg.org/ffmpeg-formats.html#concat-1, stream copy); returns its path and probed
        duration (ms), or None (error recorded) when FFmpeg failed or the result does not play. The
        parts are left in place."""
        listing = self.joined_dir / "parts.ffconcat"
        lines = ["ffconcat version 1.0"] + [f"file '{p.resolve()}'" for p in paths]
        listing.write_text("\n".join(lines) + "\n", encoding="utf-8")
        joined = self.joined_dir / paths[0].name
        argv = ff.concat_argv(listing, joined, self._fmt, ffmpeg=self._ffmpeg)
        proc = await asyncio.create_subprocess_exec(
            *argv, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE
        )
        _, err = await proc.communicate()
        duration = await self._probe_duration_ms(joined) if proc.returncode == 0 else None
        if proc.returncode != 0 or duration is None:
            self._error(f"concat join failed, storing {len(paths)} parts separately: {err.decode()[-300:]}")
            joined.unlink(missing_ok=True)
            return None
        return joined, duration

    async def _group_add(self, part: _Part) -> None:
        """`output.maxSize`: add a closed part to the open group; store the group first when the part
        does not fit in it, and with it when the part ends a file by time (segmentDuration)."""
        assert self._max_bytes is not None
        if not fits(sum(p.size for p in self._group), part.size, self._max_bytes):
            await self._flush_group()
        self._group.append(part)
        if ends_file(self._group[0].span_s[0], part.span_s[1], self._file_s):
            await self._flush_group()

    async def _flush_group(self) -> None:
        """Store the open group of parts as one file (`{index}`: the recording's next), joined with the
        concat demuxer. A joined file larger than maxSize (container overhead) is joined again without
        its last part, which goes to the next file; a single part is stored as it is (even when larger
        than maxSize); a failed join stores each part as its own file."""
        parts, self._group = self._group, []
        while parts:
            take = len(parts)
            joined: tuple[Path, int] | None = None
            while take > 1:
                joined = await self._concat([p.path for p in parts[:take]])
                if joined is None or _size(joined[0]) <= (self._max_bytes or 0):
                    break
                joined[0].unlink(missing_ok=True)
                joined = None
                take -= 1
            if take > 1 and joined is None:
                take = 1  # the join failed: store the parts one by one
            chosen, parts = parts[:take], parts[take:]
            first = chosen[0]
            index = self.status.nextIndex
            self.status.nextIndex += 1
            if joined is None:
                item = self._closed_item(
                    self._primary,
                    first.path,
                    index,
                    first.start,
                    first.size,
                    first.duration_ms,
                    partial=False,
                )
            else:
                path, duration = joined
                item = self._closed_item(
                    self._primary, path, index, first.start, _size(path), duration, partial=False
                )
                item.absorbed = [p.path for p in chosen]
            self._publish(item)

    # ---------------------------------------------------------------- uploads

    async def _upload_one(self, item: _Closed) -> bool:
        item.attempts += 1
        try:
            sent = await self.store.upload_file(item.path, item.info.key)
        except (StorageError, OSError) as exc:
            self.metrics.upload_failures.inc()
            # Logged once per distinct cause (the store's messages carry no request ids), not per try.
            cause = str(exc).split(": ", 1)[-1]
            self._error(
                f"upload of {item.info.name} failed (attempt {item.attempts}): {exc}",
                log_it=cause != self._upload_cause,
            )
            self._upload_cause = cause
            return False
        self._upload_cause = None
        if (self.status.lastError or "").startswith("upload of"):
            self.status.lastError = None  # storing works again
        for path in [item.path, *item.absorbed]:
            path.unlink(missing_ok=True)
            self._published_parts.discard(str(path))
        item.info.uploaded = True
        item.info.uploadedAt = rfc3339(ff.now_utc(), microseconds=True)
        self.metrics.upload_bytes.inc(sent)
        self.metrics.uploads.inc()
        self._pending.pop(item.info.index, None)
        self._sync_pending()
        log.info("stored %s (%d bytes)", item.info.location, sent)
        out = item.output
        if out is not None and out.fmt == "hls" and item.path.name in out.hls_names:
            out.hls_stored.add(item.path.name)
            await self._upload_playlist(out)
        return True

    async def _uploader(self) -> None:
        """Upload queued files in order; retry with backoff (1 s doubling to 30 s) while recording.
        A file that cannot be stored stays in the work dir (the next agent's `_recover` stores it)."""
        while True:
            item = await self._queue.get()
            try:
                delay = 1.0
                while not await self._upload_one(item):
                    # Stopping: `uploadAttempts` tries for the first file that fails, one for each after
                    # it (the store is down: the files stay on the work volume for the next Pod).
                    if self._stop.is_set() and (
                        self._upload_gave_up or item.attempts >= self.config.agent.uploadAttempts
                    ):
                        self._upload_gave_up = True
                        break
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, 30.0)
            finally:
                self._queue.task_done()

    async def _drain_uploads(self) -> None:
        await self._queue.join()

    async def _upload_playlist(self, out: _Output) -> None:
        """Upload `out`'s HLS playlist (overwriting it) as far as its segments are stored, their URIs
        rewritten to the stored names (`stored_playlist`): a player following it never meets a
        segment not yet in storage, and EXT-X-ENDLIST appears once FFmpeg ended the playlist and its
        last segment is stored. Key: `<recording>-<first index>.m3u8` for `output`,
        `<recording>-<output name>-<first index>.m3u8` for an additional output."""
        source = out.parts_dir / ff.HLS_PLAYLIST
        if not source.exists():
            return
        stored = {part: name for part, name in out.hls_names.items() if part in out.hls_stored}
        target = self.joined_dir / f"playlist-{out.name}.m3u8"
        target.write_text(stored_playlist(source.read_text(encoding="utf-8"), stored), encoding="utf-8")
        recording = self.config.recording.name
        stem = recording if out is self._primary else f"{recording}-{out.name}"
        key = self.store.key_for(f"{stem}-{out.hls_first_index:05d}.m3u8")
        try:
            await self.store.upload_file(target, key)
        except (StorageError, OSError) as exc:
            self.metrics.upload_failures.inc()
            self._error(f"playlist upload failed: {exc}")
            return
        if out is self._primary:
            self.status.playlist = self.store.uri(key)
        else:
            self.status.playlists = {**(self.status.playlists or {}), out.name: self.store.uri(key)}

    # ------------------------------------------------------------------ misc

    async def _max_duration_timer(self) -> None:
        assert self.spec.maxDuration is not None
        await asyncio.sleep(parse_duration(self.spec.maxDuration).total_seconds())
        self.request_stop("MaxDuration")

    def _error(self, message: str, *, log_it: bool = True) -> None:
        message = ff.redact(message, self._secrets)
        if log_it:
            log.warning("%s", message)
        self.status.lastError = message[-2000:]
        self.status.lastErrorAt = rfc3339(ff.now_utc(), microseconds=True)
