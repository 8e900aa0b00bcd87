"""CloudTranscoder: `handlers` (kopf glue and the Agora Cloud Transcoder calls) over `decide` (pure:
observe, plan, the transcoder config, sequence ids)."""
