"""The recorder agent that runs inside a LocalRecording's Pod (`recording-operator record`).

Interfaces for the controller: `config` (config file, env var names, port, paths) and `status`
(the `/status` JSON model). `ffmpeg` builds argv (pure), `progress` parses `-progress`, `agent`
supervises FFmpeg and uploads closed files through `recording_operator.storage`.
"""
