"""recording-operator: a Kubernetes operator (kopf) for media recordings. What ships: `api` (models, CRDs,
the recorder wire contract), `providers` (Agora, RealtimeKit), `storage` (OpenDAL), `recorder` (the
in-Pod agent), `controllers` (kopf handlers per kind), `cli` and `process` (the operator process)."""
