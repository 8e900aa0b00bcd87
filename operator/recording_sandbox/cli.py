"""`python -m recording_sandbox`: run the sandbox (`sandbox`) or the demo (`demo`).

The sandbox does not ship: it is not in the wheel nor in either image. It is importable in a
development install (`make install`), where `operator/` is on the path.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(
    help="The recording-operator sandbox: emulators on loopback, and the demo.",
    no_args_is_help=True,
    add_completion=False,
)

REPO_CRDS = Path(__file__).resolve().parents[2] / "crds"


@app.command()
def sandbox(
    state_dir: Annotated[Path, typer.Option(help="Where kubeconfig and endpoints.json are written.")],
    with_operator: Annotated[bool, typer.Option(help="Also run the operator against the sandbox.")] = False,
    crd_dir: Annotated[Path, typer.Option(help="CRDs to register.")] = REPO_CRDS,
    host: Annotated[str, typer.Option(help="Address the emulators listen on.")] = "127.0.0.1",
    s3: Annotated[bool, typer.Option(help="Also run moto's S3 server (bucket `recordings`).")] = True,
    verbose: Annotated[bool, typer.Option("--verbose", "-v")] = False,
) -> None:
    """Start the Kubernetes API and Agora emulators (and the operator); run until interrupted."""
    from recording_operator.process import configure_logging
    from recording_sandbox.runner import run_sandbox

    configure_logging(verbose)
    asyncio.run(
        run_sandbox(state_dir=state_dir, with_operator=with_operator, crd_dir=crd_dir, host=host, with_s3=s3)
    )


@app.command(hidden=True)
def agora() -> None:
    """The Agora emulator alone, configured by one JSON object on stdin (`agora/process.py`)."""
    import json
    import sys

    from recording_sandbox.agora.process import serve

    asyncio.run(serve(json.loads(sys.stdin.readline())))


@app.command()
def demo(
    state_dir: Annotated[
        Path | None, typer.Option(help="Sandbox state directory (default: a temp dir).")
    ] = None,
) -> None:
    """The main job on the sandbox: record an Agora channel end to end and show each step."""
    from recording_sandbox.demo import run_demo

    raise typer.Exit(asyncio.run(run_demo(state_dir)))


def main() -> None:
    """Console-script entry point."""
    app()
