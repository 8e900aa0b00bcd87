"""The volume deletion Job manifest."""

from __future__ import annotations

from recording_operator.controllers.recordedfile.jobs import deletion_job, deletion_job_name


def test_volume_deletion_job_runs_the_safe_delete_command_from_the_recorder_image() -> None:
    job = deletion_job(
        namespace="ns", file_name="f", uid="u", claim="rec", path="team/a.mp4", image="recorder:1"
    )
    pod = job["spec"]["template"]["spec"]
    [container] = pod["containers"]
    assert job["metadata"]["name"] == deletion_job_name("u")
    assert container["image"] == "recorder:1"
    # No shell: the path is one argument, resolved under the mount by `delete-volume-file`.
    assert container["command"] == [
        "recording-operator", "delete-volume-file", "--root", "/recordings", "--path", "team/a.mp4"
    ]  # fmt: skip
    assert container["volumeMounts"] == [{"name": "recordings", "mountPath": "/recordings"}]
    assert pod["volumes"] == [{"name": "recordings", "persistentVolumeClaim": {"claimName": "rec"}}]
    assert pod["restartPolicy"] == "Never" and pod["automountServiceAccountToken"] is False
    # The recorder's user (65532), so it may delete what recorders wrote; nothing privileged.
    assert pod["securityContext"]["runAsNonRoot"] is True and pod["securityContext"]["runAsUser"] == 65532
    restricted = container["securityContext"]
    assert restricted["readOnlyRootFilesystem"] is True and restricted["allowPrivilegeEscalation"] is False
    assert restricted["capabilities"] == {"drop": ["ALL"]}
    spec = job["spec"]
    assert (spec["backoffLimit"], spec["activeDeadlineSeconds"], spec["ttlSecondsAfterFinished"]) == (
        3,
        300,
        600,
    )
    [owner] = job["metadata"]["ownerReferences"]
    assert (owner["kind"], owner["uid"], owner["controller"]) == ("RecordedFile", "u", True)
