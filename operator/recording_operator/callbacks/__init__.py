"""Provider callbacks: Agora NCS (Cloud Recording, Cloud Transcoder) and RealtimeKit webhooks.

`receiver` is the HTTP server (authenticity, limits, replays, duplicates, metrics), `verify` the
signature checks, `guard` the bounded bookkeeping, `registration` keeps the RealtimeKit webhook,
`wiring` builds the receiver from the settings with the controllers' notice sinks. It sits above the controllers: it hands verified notices to
them, and they never import it.
"""
