"""API models of the four kinds and their CRD metadata (`recording.mediaops.io/v1alpha1`).

The package itself exports only the group constants and `parse_duration`, so that importing one
kind's models (the recorder agent imports `api.localrecording`) does not import the others and
their provider dependencies; the CRD declarations of all four kinds are in `api.resources`.
"""

from recording_operator.api.v1alpha1.common import API_VERSION, FINALIZER, GROUP, VERSION, parse_duration

__all__ = ["API_VERSION", "FINALIZER", "GROUP", "VERSION", "parse_duration"]
