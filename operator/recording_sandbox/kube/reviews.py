"""Self reviews of the sandbox's single user: ``kubectl auth can-i`` and ``kubectl auth whoami``.

The sandbox has one user, the kubeconfig's admin (a bearer token), who may do everything, like a
member of ``system:masters`` on a real cluster.

- ``SelfSubjectAccessReview`` (authorization.k8s.io/v1): the answer is the review with
  ``status.allowed: true``, created 201 and not stored
  (https://kubernetes.io/docs/reference/access-authn-authz/authorization/#checking-api-access).
- ``SelfSubjectReview`` (authentication.k8s.io/v1): the answer is the review with
  ``status.userInfo`` of the caller, created 201 and not stored
  (https://kubernetes.io/docs/reference/access-authn-authz/authentication/#self-subject-review).
"""

from __future__ import annotations

from typing import Any

from recording_sandbox.kube.errors import bad_request

#: The sandbox admin, as ``kubectl auth whoami`` prints it.
ADMIN_USER: dict[str, Any] = {
    "username": "sandbox-admin",
    "groups": ["system:masters", "system:authenticated"],
}

REVIEW_KEYS = {
    ("authorization.k8s.io", "selfsubjectaccessreviews"): "SelfSubjectAccessReview",
    ("authentication.k8s.io", "selfsubjectreviews"): "SelfSubjectReview",
}


def review(key: tuple[str, str], api_version: str, body: Any) -> dict[str, Any]:
    """Answer a POSTed review of ``key`` (one of :data:`REVIEW_KEYS`) with its ``status``.

    Raises 400 when the body is not an object.
    """
    if not isinstance(body, dict):
        raise bad_request("the body of the request must be a review object")
    kind = REVIEW_KEYS[key]
    metadata = body.get("metadata")
    answer: dict[str, Any] = {
        "kind": kind,
        "apiVersion": api_version,
        "metadata": dict(metadata) if isinstance(metadata, dict) else {},
    }
    if kind == "SelfSubjectAccessReview":
        answer["spec"] = body.get("spec") or {}
        answer["status"] = {"allowed": True, "reason": "the sandbox user is a cluster administrator"}
    else:
        answer["status"] = {"userInfo": dict(ADMIN_USER)}
    answer["metadata"].setdefault("creationTimestamp", None)
    return answer


__all__ = ["ADMIN_USER", "REVIEW_KEYS", "review"]
