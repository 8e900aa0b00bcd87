"""What every kind's controller shares: `context` (one handler invocation: status draft, conditions,
Events), `status` (StatusDraft, digest, status.files), `conditions`, `errors` and `failures` (the one
failure ladder), `metrics` (instrumentation), `runtime` (kopf settings, shared clients), `kube`
(Kubernetes access beyond kopf), `backoff`, `pods` (Pod security). It imports no kind."""
