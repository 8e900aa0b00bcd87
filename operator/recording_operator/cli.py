"""`recording-operator`: run the operator (`run`), render CRDs (`crds`), run the recorder agent in a recorder
Pod (`record`), delete one file from a claim (`delete-volume-file`), a RecordedFile's presigned URL or
bytes (`files url|get`). The sandbox has its own command,
`python -m recording_sandbox`."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(
    help="Kubernetes operator for media recordings.", no_args_is_help=True, add_completion=False
)


@app.command()
def run(
    namespace: Annotated[
        list[str] | None, typer.Option("--namespace", "-n", help="Watch only these namespaces (repeatable).")
    ] = None,
    kubeconfig: Annotated[
        Path | None, typer.Option(help="Kubeconfig file (else in-cluster or $KUBECONFIG).")
    ] = None,
    peering: Annotated[bool, typer.Option(help="Coordinate replicas through kopf peering.")] = False,
    priority: Annotated[int, typer.Option(help="Peering priority; unique per replica.")] = 0,
    peering_name: Annotated[
        str,
        typer.Option(
            help="kopf peering object of this shard's replicas (one per shard, SHARD_LABEL_SELECTOR)."
        ),
    ] = "default",
    liveness: Annotated[
        str | None,
        typer.Option(help="Liveness endpoint, e.g. http://0.0.0.0:8081/healthz (metrics: METRICS_PORT)."),
    ] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v")] = False,
) -> None:
    """Run the operator against a cluster (settings from the environment, see README).

    Prometheus metrics are served on `METRICS_PORT` (default 8080) at `/metrics`.
    """
    _without_httpx_command_line()
    from recording_operator.process import configure_logging, run_operator
    from recording_operator.settings import Settings

    if kubeconfig:
        os.environ["KUBECONFIG"] = str(kubeconfig)
    configure_logging(verbose)
    asyncio.run(
        run_operator(
            namespaces=namespace or (),
            standalone=not peering,
            priority=priority,
            peering_name=peering_name,
            liveness_endpoint=liveness,
            metrics_port=Settings.from_env().metrics_port,
        )
    )


def _without_httpx_command_line() -> None:
    """Keep `import httpx` from loading httpx's command-line client (`httpx._main`, with click, rich
    and pygments: 4.2 MB of the operator's RSS, measured), which it imports whenever those packages
    are installed — and they are, for typer and `kubectl recording`. The operator never runs it.
    `None` in `sys.modules` makes that import raise ImportError, which httpx's `__init__` handles
    (https://docs.python.org/3/reference/import.html#the-module-cache)."""
    sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]


@app.command()
def crds(
    output: Annotated[Path, typer.Option("--output", "-o", help="Directory to write the CRDs into.")] = Path(
        "crds"
    ),
) -> None:
    """Write crds/<plural>.recording.mediaops.io.yaml for every kind, from the API models."""
    from recording_operator.api.crd_renderer import write_crds
    from recording_operator.api.v1alpha1.crds import RESOURCES

    for path in write_crds(RESOURCES, output):
        typer.echo(f"wrote {path}")


@app.command()
def record(
    config: Annotated[
        Path,
        typer.Option("--config", help="Recorder config file (the format of recording_operator.api.agent)."),
    ] = Path("/etc/recorder/config.json"),
    work_dir: Annotated[
        Path | None, typer.Option(help="Scratch directory (default $RECORDER_WORK_DIR or /var/lib/recorder).")
    ] = None,
    host: Annotated[str, typer.Option(help="Address of the HTTP server.")] = "0.0.0.0",
    port: Annotated[int | None, typer.Option(help="HTTP port (default $RECORDER_HTTP_PORT or 8090).")] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v")] = False,
) -> None:
    """Run the recorder agent inside a recorder Pod: FFmpeg, closed-file uploads, /status and /metrics."""
    from recording_operator.recorder.main import exit_now
    from recording_operator.recorder.main import main as record_main

    exit_now(record_main(config, work_dir=work_dir, host=host, port=port, verbose=verbose))


@app.command("delete-volume-file")
def delete_volume_file(
    root: Annotated[Path, typer.Option("--root", help="Where the claim is mounted.")],
    path: Annotated[str, typer.Option("--path", help="The file, relative to --root.")],
) -> None:
    """Delete one recorded file from a mounted claim (the RecordedFile deletion Job's command).

    Exit 0: deleted, or already gone. Exit 2: the path is refused (absolute, `..`, a symbolic link
    leading out). Exit 1: any other failure (a directory, permission denied, I/O error).
    """
    from recording_operator.storage.volume import UnsafePath, delete_under

    try:
        outcome = delete_under(root, path)
    except UnsafePath as exc:
        typer.echo(f"refused: {exc}", err=True)
        raise typer.Exit(2) from exc
    except OSError as exc:
        typer.echo(f"cannot delete {path!r} under {root}: {exc.strerror or exc}", err=True)
        raise typer.Exit(1) from exc
    typer.echo(f"{path}: {outcome.value}")


files_app = typer.Typer(
    help="A RecordedFile's bytes, with your own kubeconfig and the storage Secret it names.",
    no_args_is_help=True,
)
app.add_typer(files_app, name="files")

Kubeconfig = Annotated[str | None, typer.Option("--kubeconfig", help="Path to the kubeconfig file.")]
KubeContext = Annotated[str | None, typer.Option("--context", help="The kubeconfig context to use.")]
Namespace = Annotated[str | None, typer.Option("--namespace", "-n", help="The namespace.")]


def _file_command(run_it: Callable[[], object]) -> None:
    """Run a `files` command; errors the user must fix are one line on stderr and exit code 1."""
    import httpx

    from recording_operator.downloads import DownloadError
    from recording_operator.kubectl_recording import PluginError
    from recording_operator.storage import StorageError, UnsupportedStorage

    try:
        run_it()
    except (DownloadError, StorageError, UnsupportedStorage, PluginError, httpx.HTTPError, OSError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc


@files_app.command("url")
def files_url(
    name: Annotated[str, typer.Argument(help="The RecordedFile.")],
    expires: Annotated[
        int, typer.Option("--expires", help="Lifetime of the URL in seconds (≤ 7 days).")
    ] = 3600,
    kubeconfig: Kubeconfig = None,
    context: KubeContext = None,
    namespace: Namespace = None,
) -> None:
    """Print a time-limited presigned URL of a RecordedFile (stdout), its lifetime on stderr.

    The RecordedFile and its `credentialsSecretRef` Secret are read through kubectl with your
    kubeconfig (your RBAC decides); the URL is signed locally with the Secret's keys. A provider
    file (RealtimeKit bucket) prints the provider's own URL and its expiry.
    """
    from rich.console import Console

    from recording_operator.downloads import url_command
    from recording_operator.kubectl_recording import Kubectl

    kubectl = Kubectl(kubeconfig, context, namespace)
    _file_command(lambda: url_command(kubectl, name, expires_s=expires, console=Console(stderr=True)))


@files_app.command("get")
def files_get(
    name: Annotated[str, typer.Argument(help="The RecordedFile.")],
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="File or directory (default: the file's name, here)."),
    ] = None,
    kubeconfig: Kubeconfig = None,
    context: KubeContext = None,
    namespace: Namespace = None,
) -> None:
    """Download a RecordedFile through the storage layer (streamed, bounded memory) with a progress bar."""
    from rich.console import Console

    from recording_operator.downloads import get_command
    from recording_operator.kubectl_recording import Kubectl

    kubectl = Kubectl(kubeconfig, context, namespace)
    _file_command(lambda: get_command(kubectl, name, output=output, console=Console(stderr=True)))


def main() -> None:
    """Console-script entry point."""
    app()
