"""The floor for `make bench`: a kopf operator whose create handler on CloudRecordings does nothing
but report `phase: Recording`, with the same kopf settings as the real operator.

    kopf run --standalone -A bench/noop_operator.py
"""

from __future__ import annotations

import logging
from typing import Any

import kopf


@kopf.on.startup()
def configure(settings: kopf.OperatorSettings, **_: Any) -> None:
    settings.persistence.finalizer = "recording.mediaops.io/cleanup"
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix="recording.mediaops.io")
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
        prefix="recording.mediaops.io", key="last-handled-configuration"
    )
    settings.posting.level = logging.WARNING


@kopf.on.create("recording.mediaops.io", "v1alpha1", "cloudrecordings")
def create(patch: kopf.Patch, **_: Any) -> None:
    patch.status["phase"] = "Recording"


@kopf.on.delete("recording.mediaops.io", "v1alpha1", "cloudrecordings")
def delete(**_: Any) -> None:
    pass
