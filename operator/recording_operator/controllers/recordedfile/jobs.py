"""The volume deletion Job: a short-lived batch/v1 Job that mounts a RecordedFile's claim and deletes
its file with `recording-operator delete-volume-file` from the recorder image (the operator itself
mounts no claims). Pure manifest functions; the handlers create and follow the Job.
"""

from __future__ import annotations

import hashlib
from typing import Any

from recording_operator.api import GROUP, VERSION
from recording_operator.api.agent import DEFAULT_VOLUME_DIR
from recording_operator.controllers._kit.pods import container_security_context, pod_security_context
from recording_operator.controllers.recordedfile.decide import KIND

#: Mount point of the claim inside a volume deletion Job (where recorders mount it too).
JOB_MOUNT = DEFAULT_VOLUME_DIR
#: Seconds a finished volume deletion Job is kept (`ttlSecondsAfterFinished`).
JOB_TTL_S = 600


def deletion_job_name(uid: str) -> str:
    """The deletion Job's name for a RecordedFile uid (deterministic, so a retry finds it)."""
    return f"rfile-delete-{hashlib.sha256(uid.encode()).hexdigest()[:16]}"


def deletion_job(
    *, namespace: str, file_name: str, uid: str, claim: str, path: str, image: str
) -> dict[str, Any]:
    """A batch/v1 Job that mounts `claim` at JOB_MOUNT and deletes `path` (relative to the claim root).

    The container runs `recording-operator delete-volume-file` from `image` (the recorder image,
    which has the package installed): the path is resolved under the mount and refused when it
    escapes it (`..`, absolute, symbolic links leading out; `recording_operator.storage.volume`); an already
    deleted file counts as done. The path is an argument, never through a shell.

    Owned by the RecordedFile (collected with it); no Kubernetes token; the recorder's non-root
    user (so it may delete what recorders wrote), read-only root filesystem, no capabilities,
    seccomp RuntimeDefault. `backoffLimit` 3, `activeDeadlineSeconds` 300, kept JOB_TTL_S after it
    finished (a failed Job stays that long for inspection).
    """
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": deletion_job_name(uid),
            "namespace": namespace,
            "labels": {
                "app.kubernetes.io/managed-by": "recording-operator",
                "app.kubernetes.io/component": "recordedfile-delete",
                f"{GROUP}/recordedfile": file_name,
            },
            "ownerReferences": [
                {
                    "apiVersion": f"{GROUP}/{VERSION}",
                    "kind": KIND,
                    "name": file_name,
                    "uid": uid,
                    "controller": True,
                    "blockOwnerDeletion": False,
                }
            ],
        },
        "spec": {
            "backoffLimit": 3,
            "ttlSecondsAfterFinished": JOB_TTL_S,
            "activeDeadlineSeconds": 300,
            "template": {
                "metadata": {"labels": {"app.kubernetes.io/component": "recordedfile-delete"}},
                "spec": {
                    "restartPolicy": "Never",
                    "automountServiceAccountToken": False,
                    "enableServiceLinks": False,
                    "securityContext": pod_security_context(),
                    "containers": [
                        {
                            "name": "delete",
                            "image": image,
                            "imagePullPolicy": "IfNotPresent",
                            "command": [
                                "recording-operator",
                                "delete-volume-file",
                                "--root",
                                JOB_MOUNT,
                                "--path",
                                path,
                            ],
                            "securityContext": container_security_context(),
                            "resources": {
                                "requests": {"cpu": "10m", "memory": "64Mi"},
                                "limits": {"memory": "128Mi"},
                            },
                            "volumeMounts": [{"name": "recordings", "mountPath": JOB_MOUNT}],
                        }
                    ],
                    "volumes": [{"name": "recordings", "persistentVolumeClaim": {"claimName": claim}}],
                },
            },
        },
    }
