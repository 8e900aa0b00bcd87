"""RecordedFile: `handlers` (kopf glue) over `decide` (pure: deletion, phase, Job outcome); `jobs`
(the volume deletion Job), `probe` (stat a stored object), `retention` (one expiry schedule),
`publication` (how every recording kind turns reported files into RecordedFiles)."""
