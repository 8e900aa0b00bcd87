"""The Pod security every Pod the operator creates shares (recorder Pods and volume deletion Jobs):
the "restricted" Pod Security Standard
(https://kubernetes.io/docs/concepts/security/pod-security-standards/#restricted)."""

from __future__ import annotations

from typing import Any

#: UID and GID of recorder Pods and volume deletion Jobs (the recorder image's user).
RUN_AS = 65532


def pod_security_context() -> dict[str, Any]:
    """The Pod-level securityContext of recorder Pods and the volume deletion Jobs (which run as
    the recorder's user, so they may delete what recorders wrote): non-root RUN_AS, seccomp
    RuntimeDefault (the "restricted" Pod Security Standard)."""
    return {
        "runAsNonRoot": True,
        "runAsUser": RUN_AS,
        "runAsGroup": RUN_AS,
        "fsGroup": RUN_AS,
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def container_security_context() -> dict[str, Any]:
    """The container securityContext of the same Pods: no privilege escalation, read-only root
    filesystem, non-root RUN_AS, all capabilities dropped, seccomp RuntimeDefault."""
    return {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "runAsNonRoot": True,
        "runAsUser": RUN_AS,
        "runAsGroup": RUN_AS,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    }
