"""`kubectl recording`: operate recordings from kubectl (the executable `kubectl-recording`, found by
kubectl's plugin discovery on PATH: https://kubernetes.io/docs/tasks/extend-kubectl/kubectl-plugins/).

    kubectl recording status standup              # phase, conditions, session, files, stats, Events
    kubectl recording files standup               # the RecordedFiles of a recording
    kubectl recording stop|start|pause|resume standup
    kubectl recording reconcile standup           # retry a terminal failure now
    kubectl recording restart cams-entrance       # a new recorder Pod / transcoder task now
    kubectl recording logs cams-entrance          # the recorder Pod's log (LocalRecording)
    kubectl recording watch cams-entrance         # live stats
    kubectl recording url standup-00003           # a time-limited presigned URL of a RecordedFile
    kubectl recording get standup-00003 -o /tmp/  # download a RecordedFile (progress bar)

NAME is a CloudRecording, LocalRecording or CloudTranscoder name, or `kind/name` (`crec/standup`,
`lrec/cam`, `ctrans/mix`) when names collide. Every command talks to the cluster through kubectl
itself (`$KUBECTL`, default `kubectl`), so kubeconfig, contexts, exec credentials and `-n` work
exactly as for kubectl. Writes patch `spec` or the annotation
`recording.mediaops.io/reconcile-requested-at`, never `status`. `-o json|yaml` prints what a
script needs instead of the tables.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
import yaml
from rich.console import Console
from rich.table import Table

from recording_operator.api import GROUP

REQUESTED_AT = f"{GROUP}/reconcile-requested-at"
RESTART_REQUESTED_AT = f"{GROUP}/restart-requested-at"

#: (kind, plural, short names) of the kinds the plugin operates.
KINDS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("CloudRecording", "cloudrecordings", ("crec", "cloudrecording")),
    ("LocalRecording", "localrecordings", ("lrec", "localrecording")),
    ("CloudTranscoder", "cloudtranscoders", ("ctrans", "cloudtranscoder")),
)

app = typer.Typer(
    help="Operate recordings (recording.mediaops.io) from kubectl.",
    no_args_is_help=True,
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
console = Console()


class PluginError(RuntimeError):
    """Something the user must fix; printed without a traceback, exit code 1."""


@dataclass
class Kubectl:
    """Runs kubectl with the connection options the user gave."""

    kubeconfig: str | None = None
    context: str | None = None
    namespace: str | None = None

    def command(self, *args: str) -> list[str]:
        cmd = [os.environ.get("KUBECTL", "kubectl")]
        if self.kubeconfig:
            cmd += ["--kubeconfig", self.kubeconfig]
        if self.context:
            cmd += ["--context", self.context]
        if self.namespace:
            cmd += ["--namespace", self.namespace]
        return [*cmd, *args]

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """kubectl `args`; raises PluginError with kubectl's message when it fails and `check`."""
        result = subprocess.run(self.command(*args), capture_output=True, text=True)
        if check and result.returncode != 0:
            raise PluginError(result.stderr.strip() or f"kubectl {' '.join(args)} failed")
        return result

    def json(self, *args: str) -> Any:
        return json.loads(self.run(*args, "-o", "json").stdout)


def _options(ctx: typer.Context) -> Kubectl:
    kubectl: Kubectl = ctx.obj
    return kubectl


@app.callback()
def main(
    ctx: typer.Context,
    kubeconfig: Annotated[
        str | None, typer.Option("--kubeconfig", help="Path to the kubeconfig file.")
    ] = None,
    context: Annotated[str | None, typer.Option("--context", help="The kubeconfig context to use.")] = None,
    namespace: Annotated[str | None, typer.Option("--namespace", "-n", help="The namespace.")] = None,
) -> None:
    """Operate recordings (recording.mediaops.io) from kubectl."""
    ctx.obj = Kubectl(kubeconfig, context, namespace)


def resolve(kubectl: Kubectl, name: str) -> tuple[str, str, dict[str, Any]]:
    """`(kind, plural, object)` of NAME or `kind/name`.

    Raises:
        PluginError: no such resource, or the name is ambiguous.
    """
    kinds = KINDS
    if "/" in name:
        prefix, name = name.split("/", 1)
        kinds = tuple(k for k in KINDS if prefix.lower() in (k[0].lower(), k[1], *k[2]))
        if not kinds:
            raise PluginError(f"unknown kind {prefix!r}: use crec, lrec or ctrans")
    found = []
    for kind, plural, _ in kinds:
        result = kubectl.run(
            "get", f"{plural}.{GROUP}", name, "-o", "json", "--ignore-not-found", check=False
        )
        if result.returncode == 0 and result.stdout.strip():
            found.append((kind, plural, json.loads(result.stdout)))
        elif result.returncode != 0 and "NotFound" not in result.stderr:
            raise PluginError(result.stderr.strip())
    if not found:
        raise PluginError(f"no CloudRecording, LocalRecording or CloudTranscoder named {name!r}")
    if len(found) > 1:
        raise PluginError(f"{name!r} names a {' and a '.join(k for k, _, _ in found)}: use kind/name")
    return found[0]


def events(kubectl: Kubectl, kind: str, obj: dict[str, Any], limit: int = 10) -> list[dict[str, Any]]:
    """The object's last `limit` Events, oldest first."""
    meta = obj["metadata"]
    selector = f"involvedObject.kind={kind},involvedObject.name={meta['name']}"
    items: list[dict[str, Any]] = kubectl.json("get", "events", "--field-selector", selector).get("items", [])
    items.sort(key=lambda e: e.get("lastTimestamp") or e.get("eventTime") or "")
    return items[-limit:]


def emit(data: Any, output: str | None) -> bool:
    """Print `data` as JSON or YAML when `output` asks for it; False when the caller prints tables."""
    if output == "json":
        typer.echo(json.dumps(data, indent=2, sort_keys=True))
    elif output == "yaml":
        typer.echo(yaml.safe_dump(data, sort_keys=False))
    elif output is not None:
        raise PluginError(f"-o {output}: use json or yaml")
    else:
        return False
    return True


Output = Annotated[str | None, typer.Option("--output", "-o", help="json or yaml instead of tables.")]


def _age(timestamp: str | None) -> str:
    if not timestamp:
        return ""
    try:
        then = datetime.strptime(timestamp[:19], "%Y-%m-%dT%H:%M:%S").replace(tzinfo=UTC)
    except ValueError:
        return timestamp
    seconds = int((datetime.now(UTC) - then).total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{max(seconds, 0)}s"


def human_bytes(n: float | None) -> str:
    """`1536` → `1.5 KiB`."""
    if n is None:
        return ""
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} TiB"


SESSION_FIELDS = (
    "resourceId",
    "sid",
    "recordingId",
    "taskId",
    "podName",
    "startedAt",
    "stoppedAt",
    "stopReason",
)


@app.command()
def status(ctx: typer.Context, name: str, output: Output = None) -> None:
    """Phase, conditions, session, files, stats and the last Events of a recording."""
    kubectl = _options(ctx)
    kind, _, obj = resolve(kubectl, name)
    recent = events(kubectl, kind, obj)
    st = obj.get("status") or {}
    if emit(
        {
            "kind": kind,
            "name": obj["metadata"]["name"],
            "namespace": obj["metadata"].get("namespace"),
            "spec": obj.get("spec"),
            "status": st,
            "events": recent,
        },
        output,
    ):
        return
    meta = obj["metadata"]
    console.print(
        f"[bold]{kind}[/] {meta.get('namespace')}/{meta['name']}  phase [bold]{st.get('phase') or '-'}[/]"
        f"  generation {meta.get('generation')} (observed {st.get('observedGeneration', '-')})"
    )
    conditions = Table(
        "CONDITION", "STATUS", "REASON", "MESSAGE", "SINCE", title="Conditions", title_justify="left"
    )
    for c in st.get("conditions") or []:
        color = "green" if c.get("status") == "True" else "red" if c.get("status") == "False" else "yellow"
        conditions.add_row(
            c.get("type", ""),
            f"[{color}]{c.get('status', '')}[/]",
            c.get("reason", ""),
            c.get("message", ""),
            _age(c.get("lastTransitionTime")),
        )
    console.print(conditions)
    session = {k: str(st[k]) for k in SESSION_FIELDS if st.get(k)}
    if session:
        console.print("Session: " + "  ".join(f"{k}={v}" for k, v in session.items()))
    files = st.get("files")
    if isinstance(files, dict) and files:
        console.print("Files: " + "  ".join(f"{k}={v}" for k, v in files.items()))
    stats = st.get("stats")
    if isinstance(stats, dict) and stats:
        console.print("Stats: " + "  ".join(f"{k}={v}" for k, v in stats.items() if v is not None))
    table = Table("LAST SEEN", "TYPE", "REASON", "COUNT", "MESSAGE", title="Events", title_justify="left")
    for e in recent:
        table.add_row(
            _age(e.get("lastTimestamp") or e.get("eventTime")),
            e.get("type", ""),
            e.get("reason", ""),
            str(e.get("count") or 1),
            e.get("message", ""),
        )
    console.print(table)


@app.command()
def files(ctx: typer.Context, name: str, output: Output = None) -> None:
    """The RecordedFiles of a recording (label recording.mediaops.io/recording=NAME)."""
    kubectl = _options(ctx)
    _, _, obj = resolve(kubectl, name)
    selector = f"{GROUP}/recording={obj['metadata']['name']}"
    items = kubectl.json("get", f"recordedfiles.{GROUP}", "-l", selector).get("items", [])
    rows = []
    for f in items:
        spec = f.get("spec") or {}
        location = spec.get("location") or {}
        rows.append(
            {
                "name": f["metadata"]["name"],
                "phase": (f.get("status") or {}).get("phase"),
                "location": location.get("key") or (location.get("volume") or {}).get("path"),
                "sizeBytes": spec.get("sizeBytes"),
                "durationMs": spec.get("durationMs"),
                "startedAt": spec.get("startedAt"),
            }
        )
    if emit(rows, output):
        return
    table = Table("NAME", "PHASE", "SIZE", "DURATION", "LOCATION")
    for r in rows:
        duration = f"{r['durationMs'] / 1000:.0f}s" if r["durationMs"] is not None else ""
        table.add_row(
            r["name"], r["phase"] or "", human_bytes(r["sizeBytes"]), duration, str(r["location"] or "")
        )
    console.print(table)


def _patch(kubectl: Kubectl, plural: str, name: str, patch: dict[str, Any]) -> None:
    kubectl.run("patch", f"{plural}.{GROUP}", name, "--type", "merge", "-p", json.dumps(patch))


def _set_state(ctx: typer.Context, name: str, verb: str) -> None:
    kubectl = _options(ctx)
    kind, plural, obj = resolve(kubectl, name)
    spec = obj.get("spec") or {}
    real = obj["metadata"]["name"]
    if kind == "CloudRecording":
        target = {"stop": "Stopped", "start": "Recording", "pause": "Paused", "resume": "Recording"}[verb]
        current = spec.get("state", "Recording")
        if verb == "resume" and current != "Paused":
            raise PluginError(f"{real} is not paused (spec.state {current})")
        if current == target:
            console.print(f"{kind} {real}: spec.state is already {target}")
            return
        _patch(kubectl, plural, real, {"spec": {"state": target}})
        console.print(f"{kind} {real}: spec.state {current} → {target}")
    elif kind == "LocalRecording":
        if verb in ("pause", "resume"):
            raise PluginError("a LocalRecording cannot pause: use stop and start")
        active = verb == "start"
        if spec.get("active", True) == active:
            console.print(f"{kind} {real}: spec.active is already {str(active).lower()}")
            return
        _patch(kubectl, plural, real, {"spec": {"active": active}})
        console.print(f"{kind} {real}: spec.active → {str(active).lower()}")
    else:
        raise PluginError(f"a {kind} has no {verb}; delete it to end the task, or use reconcile")


@app.command()
def stop(ctx: typer.Context, name: str) -> None:
    """Stop: CloudRecording spec.state Stopped, LocalRecording spec.active false."""
    _set_state(ctx, name, "stop")


@app.command()
def start(ctx: typer.Context, name: str) -> None:
    """Start: CloudRecording spec.state Recording, LocalRecording spec.active true."""
    _set_state(ctx, name, "start")


@app.command()
def pause(ctx: typer.Context, name: str) -> None:
    """Pause a CloudRecording (RealtimeKit, or Agora web mode)."""
    _set_state(ctx, name, "pause")


@app.command()
def resume(ctx: typer.Context, name: str) -> None:
    """Resume a paused CloudRecording."""
    _set_state(ctx, name, "resume")


def _request(ctx: typer.Context, name: str, annotation: str, what: str) -> None:
    """Set `annotation` to the current time on the resource `name` (kubectl annotate --overwrite)."""
    kubectl = _options(ctx)
    kind, plural, obj = resolve(kubectl, name)
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    real = obj["metadata"]["name"]
    if what == "restart" and kind == "CloudRecording":
        raise PluginError("a CloudRecording has no restart; use stop and start")
    kubectl.run("annotate", "--overwrite", f"{plural}.{GROUP}", real, f"{annotation}={now}")
    console.print(f"{kind} {real}: {what} requested at {now}")


@app.command()
def reconcile(ctx: typer.Context, name: str) -> None:
    """Reconcile now: retries a terminal failure (annotation recording.mediaops.io/reconcile-requested-at)."""
    _request(ctx, name, REQUESTED_AT, "reconcile")


@app.command()
def restart(ctx: typer.Context, name: str) -> None:
    """Restart now: a new recorder Pod (LocalRecording) or a new task (CloudTranscoder)
    (annotation recording.mediaops.io/restart-requested-at)."""
    _request(ctx, name, RESTART_REQUESTED_AT, "restart")


@app.command()
def logs(
    ctx: typer.Context,
    name: str,
    follow: Annotated[bool, typer.Option("--follow", "-f", help="Stream the log.")] = False,
    tail: Annotated[int, typer.Option("--tail", help="Lines from the end (-1: all).")] = -1,
) -> None:
    """The recorder Pod's log of a LocalRecording (kubectl logs status.podName)."""
    kubectl = _options(ctx)
    kind, _, obj = resolve(kubectl, name)
    pod = (obj.get("status") or {}).get("podName")
    if kind != "LocalRecording" or not pod:
        raise PluginError(f"{kind} {obj['metadata']['name']} has no recorder Pod")
    args = ["logs", pod, "-c", "recorder", f"--tail={tail}"] + (["--follow"] if follow else [])
    raise typer.Exit(subprocess.call(kubectl.command(*args)))


@app.command()
def watch(
    ctx: typer.Context,
    name: str,
    interval: Annotated[float, typer.Option("--interval", help="Seconds between two reads.")] = 2.0,
    count: Annotated[int, typer.Option("--count", help="Stop after this many lines (0: until Ctrl-C).")] = 0,
    output: Output = None,
) -> None:
    """Live stats: one line per read (phase, bitrate, fps, speed, size, files)."""
    kubectl = _options(ctx)
    kind, plural, obj = resolve(kubectl, name)
    real = obj["metadata"]["name"]
    shown = 0
    while True:
        st = obj.get("status") or {}
        stats = st.get("stats") or {}
        line = {
            "time": datetime.now(UTC).strftime("%H:%M:%S"),
            "phase": st.get("phase"),
            "bitrateKbps": stats.get("bitrateKbps"),
            "fps": stats.get("fps"),
            "speed": stats.get("speed"),
            "totalSizeBytes": stats.get("totalSizeBytes"),
            "files": (st.get("files") or {}).get("count") if isinstance(st.get("files"), dict) else None,
        }
        if output == "json":
            typer.echo(json.dumps(line))
        elif output is not None:
            raise PluginError(f"-o {output}: watch prints json lines (-o json) or text")
        else:
            console.print(
                f"{line['time']} {kind} {real} {line['phase'] or '-'}"
                + "".join(
                    f"  {k}={v}" for k, v in line.items() if k not in ("time", "phase") and v is not None
                )
            )
        shown += 1
        if count and shown >= count:
            return
        time.sleep(interval)
        obj = kubectl.json("get", f"{plural}.{GROUP}", real)


#: Errors of `url`/`get` that are the user's to fix (printed without a traceback).
def _download_errors() -> tuple[type[Exception], ...]:
    import httpx

    from recording_operator.downloads import DownloadError
    from recording_operator.storage import StorageError, UnsupportedStorage

    return (DownloadError, StorageError, UnsupportedStorage, httpx.HTTPError, OSError)


@app.command()
def url(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The RecordedFile.")],
    expires: Annotated[
        int, typer.Option("--expires", help="Lifetime of the URL in seconds (≤ 7 days).")
    ] = 3600,
) -> None:
    """Print a time-limited presigned URL of a RecordedFile (the provider's URL for a provider file).

    Same as `recording-operator files url`: the RecordedFile and its storage Secret are read with
    your kubeconfig, the URL is signed locally with the Secret's keys.
    """
    from recording_operator.downloads import url_command

    try:
        url_command(_options(ctx), name, expires_s=expires, console=Console(stderr=True))
    except _download_errors() as exc:
        raise PluginError(str(exc)) from exc


@app.command()
def get(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The RecordedFile.")],
    output_path: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="File or directory (default: the file's name, here)."),
    ] = None,
) -> None:
    """Download a RecordedFile through the storage layer, with a progress bar.

    Same as `recording-operator files get`.
    """
    from recording_operator.downloads import get_command

    try:
        get_command(_options(ctx), name, output=output_path, console=Console(stderr=True))
    except _download_errors() as exc:
        raise PluginError(str(exc)) from exc


def run() -> None:
    """Entry point of `kubectl-recording`."""
    try:
        app()
    except PluginError as exc:
        Console(stderr=True).print(f"[red]error:[/] {exc}")
        sys.exit(1)


if __name__ == "__main__":  # `python -m recording_operator.kubectl_recording`: krew's launcher
    run()
