"""A real kopf operator (``kopf run -A --standalone``) against the Kubernetes API emulator."""

from __future__ import annotations

import textwrap
import time
from pathlib import Path

import kubernetes
import pytest
from kopf.testing import KopfRunner

from recording_sandbox.kube import ThreadedKubeEmulator
from tests.support.waiting import wait_for

FIXTURES = Path(__file__).parents[2] / "fixtures" / "kube"
GROUP, VERSION, PLURAL = "test.sandbox.io", "v1", "widgets"

OPERATOR = textwrap.dedent(
    """
    import logging
    import os
    from pathlib import Path

    import kopf

    MARKS = Path(os.environ["WIDGET_MARKS"])

    @kopf.on.login()
    def login(**kwargs):
        # The kubernetes client reads KUBECONFIG once at import; kopf's own reader reads it now.
        return kopf.login_with_kubeconfig(**kwargs)

    @kopf.on.startup()
    def configure(settings: kopf.OperatorSettings, **_):
        settings.posting.level = logging.WARNING
        settings.persistence.finalizer = "test.sandbox.io/cleanup"

    @kopf.on.create("test.sandbox.io", "v1", "widgets")
    def created(name, patch, **_):
        with MARKS.open("a") as marks:
            marks.write(f"created {name}\\n")
        patch.status["phase"] = "Ready"
        patch.status["conditions"] = [{"type": "Ready", "status": "True"}]

    @kopf.on.delete("test.sandbox.io", "v1", "widgets")
    def deleted(name, **_):
        with MARKS.open("a") as marks:
            marks.write(f"deleted {name}\\n")
    """
)


def test_kopf_handles_create_and_delete(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    marks = tmp_path / "marks.txt"
    marks.touch()
    operator = tmp_path / "operator.py"
    operator.write_text(OPERATOR)
    with ThreadedKubeEmulator(crd_paths=[FIXTURES]) as emulator:
        kubeconfig = emulator.write_kubeconfig(tmp_path / "kubeconfig")
        monkeypatch.setenv("KUBECONFIG", str(kubeconfig))
        monkeypatch.setenv("WIDGET_MARKS", str(marks))
        client = kubernetes.config.new_client_from_config(config_file=str(kubeconfig))
        custom = kubernetes.client.CustomObjectsApi(client)
        names = ["a", "b", "c"]
        with KopfRunner(["run", "-A", "--standalone", str(operator)], timeout=60) as runner:
            for name in names:
                body = {
                    "apiVersion": f"{GROUP}/{VERSION}",
                    "kind": "Widget",
                    "metadata": {"name": name},
                    "spec": {"channel": "ch", "size": "small"},
                }
                custom.create_namespaced_custom_object(GROUP, VERSION, "default", PLURAL, body)

            def all_ready() -> bool:
                objects = [
                    custom.get_namespaced_custom_object(GROUP, VERSION, "default", PLURAL, n) for n in names
                ]
                return all((o.get("status") or {}).get("phase") == "Ready" for o in objects)

            wait_for(all_ready)
            obj = custom.get_namespaced_custom_object(GROUP, VERSION, "default", PLURAL, "a")
            assert obj["metadata"]["finalizers"] == ["test.sandbox.io/cleanup"]
            assert obj["status"]["conditions"] == [{"type": "Ready", "status": "True"}]

            custom.delete_namespaced_custom_object(GROUP, VERSION, "default", PLURAL, "b")

            def b_gone() -> bool:
                return "b" not in [
                    o["metadata"]["name"]
                    for o in custom.list_namespaced_custom_object(GROUP, VERSION, "default", PLURAL)["items"]
                ]

            wait_for(b_gone)
            time.sleep(0.5)  # any duplicate handling would show up in the marks by now.
        client.close()
    assert runner.exception is None, runner.output
    assert runner.exit_code == 0, runner.output
    assert sorted(marks.read_text().splitlines()) == ["created a", "created b", "created c", "deleted b"]
