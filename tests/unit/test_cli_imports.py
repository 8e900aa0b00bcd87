"""What `recording-operator run` loads: not httpx's command-line client (click's colours, rich, pygments)."""

from __future__ import annotations

import subprocess
import sys
import textwrap


def test_the_operator_process_loads_httpx_without_its_command_line_client() -> None:
    script = textwrap.dedent(
        """
        import sys
        from recording_operator.cli import _without_httpx_command_line
        _without_httpx_command_line()
        import httpx
        import recording_operator.controllers, recording_operator.process
        loaded = sorted(m for m in ("rich", "pygments", "httpx._main") if sys.modules.get(m) is not None)
        def answer(request):
            return httpx.Response(200, json={"path": request.url.path})
        with httpx.Client(transport=httpx.MockTransport(answer)) as client:
            print(loaded, client.get("http://agora.invalid/v1/apps").json()["path"])
        """
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["[]", "/v1/apps"]
