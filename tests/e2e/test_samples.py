"""The samples as a user applies them: apply, wait for Ready, delete; nothing left running.

Runs against the sandbox in `make test` and against kind in `make e2e-kind` (E2E_KUBECONFIG).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import kubernetes
import yaml
from kubernetes.client.rest import ApiException

from tests.e2e.conftest import Environment
from tests.support.harness import ROOT
from tests.support.waiting import wait_for

GROUP, VERSION, PLURAL = "recording.mediaops.io", "v1alpha1", "cloudrecordings"
SAMPLES = ROOT / "manifests" / "samples"
#: A kind cluster pulls nothing here but starts Pods; allow for a slow CI runner.
TIMEOUT_S = 120.0


def eventually(predicate: Callable[[], Any], what: str) -> Any:
    """`wait_for` with the patience a kind cluster needs."""
    return wait_for(predicate, timeout=TIMEOUT_S, interval=0.5, what=what)


def condition(obj: dict[str, Any] | None, type_: str) -> dict[str, Any]:
    for c in ((obj or {}).get("status") or {}).get("conditions") or []:
        if c["type"] == type_:
            return dict(c)
    return {}


def apply_secrets(e2e: Environment) -> None:
    core = kubernetes.client.CoreV1Api(e2e.api)
    for secret in yaml.safe_load_all((SAMPLES / "agora-credentials.yaml").read_text()):
        try:
            core.create_namespaced_secret(e2e.namespace, secret)
        except ApiException as exc:
            if exc.status != 409:
                raise


def test_cloudrecording_sample_becomes_ready_and_cleans_up(e2e: Environment, agora: httpx.Client) -> None:
    apply_secrets(e2e)
    crs = kubernetes.client.CustomObjectsApi(e2e.api)
    sample = yaml.safe_load((SAMPLES / "cloudrecording-mix.yaml").read_text())
    name = sample["metadata"]["name"]
    channel = sample["spec"]["agora"]["channel"]
    crs.create_namespaced_custom_object(GROUP, VERSION, e2e.namespace, PLURAL, sample)

    def get() -> dict[str, Any] | None:
        try:
            obj: dict[str, Any] = crs.get_namespaced_custom_object(
                GROUP, VERSION, e2e.namespace, PLURAL, name
            )
            return obj
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise

    def settled() -> dict[str, Any] | None:
        # Agora's recorder_started notice can make it Ready a moment before the create handler's own
        # status patch says Synced (`Synced=Unknown`, the first reconcile in progress): both, on one read.
        obj = get()
        both = condition(obj, "Ready").get("status") == condition(obj, "Synced").get("status") == "True"
        return obj if both else None

    ready = eventually(settled, "Ready=True and Synced=True")
    assert ready["status"]["phase"] == "Recording"
    assert ready["status"]["sid"]
    tasks = agora.get("/_emulator/tasks").json()["tasks"]
    assert [
        t for t in tasks if t["cname"] == channel and t["sid"] == ready["status"]["sid"] and not t["stopped"]
    ]

    crs.delete_namespaced_custom_object(GROUP, VERSION, e2e.namespace, PLURAL, name)
    eventually(lambda: get() is None, "the CloudRecording to be deleted")
    # The finalizer stopped the paid session before the resource went.
    running = [
        t
        for t in agora.get("/_emulator/tasks").json()["tasks"]
        if t["cname"] == channel and t.get("sid") == ready["status"]["sid"] and not t["stopped"]
    ]
    assert running == [], running
