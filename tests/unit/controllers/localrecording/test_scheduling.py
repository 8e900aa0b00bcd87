"""Reports of a recorder Pod the scheduler cannot place, and when the work claim is made again."""

from __future__ import annotations

from recording_operator.controllers.localrecording.decide import (
    POD_UNSCHEDULABLE,
    WORK_VOLUME_PENDING,
    ClaimState,
    claim_to_replace,
    unschedulable_report,
)
from recording_operator.controllers.localrecording.observe import view_pod

SCHEDULER = "0/1 nodes are available: pod has unbound immediate PersistentVolumeClaims."


def test_a_pending_claim_is_named_with_its_class() -> None:
    reason, message = unschedulable_report("r-1", SCHEDULER, [ClaimState("r-work", "fast-ssd", "Pending")])
    assert reason == WORK_VOLUME_PENDING
    assert message.startswith("PersistentVolumeClaim r-work (storageClassName fast-ssd) is Pending")
    assert SCHEDULER in message
    _, default = unschedulable_report("r-1", SCHEDULER, [ClaimState("r-work", None, "Pending")])
    assert "(the default StorageClass)" in default


def test_any_other_cause_is_reported_with_the_schedulers_message() -> None:
    why = "0/3 nodes are available: 3 Insufficient cpu."
    assert unschedulable_report("r-1", why, [ClaimState("r-work", None, "Bound")]) == (
        POD_UNSCHEDULABLE,
        f"the recorder Pod r-1 cannot be scheduled: {why}",
    )


def test_only_an_unbound_claim_of_another_class_is_replaced() -> None:
    wanted = {"spec": {"storageClassName": "standard"}}
    assert claim_to_replace(
        {"spec": {"storageClassName": "fast-ssd"}, "status": {"phase": "Pending"}}, wanted
    )
    assert not claim_to_replace(
        {"spec": {"storageClassName": "fast-ssd"}, "status": {"phase": "Bound"}}, wanted
    )
    assert not claim_to_replace({"spec": {"storageClassName": "standard"}, "status": {}}, wanted)


def test_the_pod_view_reads_podscheduled_and_claims() -> None:
    pod = {
        "metadata": {"name": "r-1"},
        "spec": {
            "volumes": [
                {"name": "work", "persistentVolumeClaim": {"claimName": "r-work"}},
                {"name": "e", "emptyDir": {}},
            ]
        },
        "status": {
            "phase": "Pending",
            "conditions": [
                {"type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": SCHEDULER}
            ],
        },
    }
    view = view_pod(pod)
    assert view.unschedulable == SCHEDULER and view.claims == ("r-work",)
    assert view_pod({"metadata": {"name": "r-2"}, "status": {"phase": "Running"}}).unschedulable is None
