"""LocalRecording: `handlers` (kopf glue) → `decide` (pure: Pod classification, next step, failure
accounting) → `driver` (carries decisions out against the API and the agent); `manifests`, `sizing`,
`observe` (Pod and agent status reading), `files` (RecordedFiles of stored files)."""
