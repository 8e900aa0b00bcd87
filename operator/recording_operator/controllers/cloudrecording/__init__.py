"""CloudRecording: `handlers` (kopf glue) → `decide` (pure: observe, plan, provider requests) → a
`driver.SessionDriver` per provider (`agora`, `realtimekit`)."""
