"""A Kubernetes API emulator for tests, the demo and benchmarks (built on aiohttp and kmock's pieces)."""

from recording_sandbox.kube.emulator import KubeEmulator
from recording_sandbox.kube.stats import RequestStats
from recording_sandbox.kube.tables import render_table
from recording_sandbox.kube.threaded import ThreadedKubeEmulator

__all__ = ["KubeEmulator", "RequestStats", "ThreadedKubeEmulator", "render_table"]
