"""API models of the four kinds and their CRD metadata (`recording.mediaops.io/v1alpha1`).

The package itself exports only the group constants and `parse_duration`, so that importing one
kind's models (the recorder agent imports `api.v1alpha1.localrecording`) does not import the others;
the CRD declarations of all four kinds are in `api.v1alpha1.crds`, the recorder wire contract in
`api.agent`.
"""

from recording_operator.api.v1alpha1.common import API_VERSION, FINALIZER, GROUP, VERSION, parse_duration

__all__ = ["API_VERSION", "FINALIZER", "GROUP", "VERSION", "parse_duration"]
