"""The recorder agent that runs inside a LocalRecording's Pod (`recording-operator record`).

Its wire contract with the controller (config file, environment, port, `/status` model,
termination message) is `recording_operator.api.agent`. `main` wires the process (config, signals,
HTTP server, termination message); `agent` supervises FFmpeg and uploads closed files through
`recording_operator.storage`; `ffmpeg` builds argv (pure: `inputs`, `codecs`, `outputs`);
`segments` reads the muxers' closed-file records; `progress` parses `-progress`; `http` serves
`/status`, `/metrics`, `/healthz`; `env` reads the Pod environment; `metrics` holds the counters.
"""
