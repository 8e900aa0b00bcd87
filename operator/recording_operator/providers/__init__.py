"""Provider clients, free of Kubernetes: `agora` (Cloud Recording and Cloud Transcoder REST clients on one
shared base, their errors, retry schedules and RTC tokens) and `realtimekit` (Cloudflare RealtimeKit
recordings over the official SDK, with its one error type `RealtimeKitError`)."""
