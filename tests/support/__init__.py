"""Helpers every test kind shares: the sandbox harness and typed clients (harness), LocalRecording and
recorder-agent helpers, the RTSP test server, Argo CD health checks, and one `wait_for`.

Free ports come from `recording_sandbox.ports.free_port`, the helper the sandbox itself uses."""
