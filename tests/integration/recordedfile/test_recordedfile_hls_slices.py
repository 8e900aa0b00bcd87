"""An Agora HLS session is deleted whole: the real operator, the Agora emulator uploading the
playlist and its `<sid>_<cname>_<utc>.ts` slices into a real S3 server (moto), boto3 checking what
is left, whether the recording is deleted (`Delete`), the playlist's RecordedFile, or it expires. Objects of another session, or outside the playlist's directory, in the same prefix stay.
"""

from __future__ import annotations

import uuid
from typing import Any

from tests.support.harness import Agora, Cluster, Files, recorded_file, recording, s3_keys
from tests.support.waiting import wait_for

APP = "0123456789abcdef0123456789abcdef"
BUCKET = "recordings"


def _stopped_hls_session(cluster: Cluster, agora: Agora, files: Files, s3: Any) -> tuple[str, str, str]:
    """Record a mix HLS session (avFileType hls only) of 30 s on the emulator's clock and stop it;
    returns (recording name, key prefix, playlist key) once the playlist and its slices are stored."""
    body = recording(agora__recordingFileConfig__avFileType=["hls"])
    name = body["metadata"]["name"]
    prefix = f"hls/{name.replace('-', '')}/"
    body["spec"]["storage"]["prefix"] = prefix.strip("/").split("/")
    agora.set_users(APP, name, ["1001"])
    assert cluster.create(body).status_code == 201
    sid = wait_for(
        lambda: (s := (cluster.get(name) or {}).get("status") or {}).get("phase") == "Recording" and s["sid"],
        what="Recording",
    )
    playlist = f"{prefix}{sid}_{name}.m3u8"
    wait_for(lambda: playlist in s3_keys(s3, BUCKET, prefix), what="the playlist uploaded")
    agora.advance(30)  # 30 s more media on the emulator's clock: more slices
    assert cluster.patch(name, {"spec": {"state": "Stopped"}}).status_code == 200
    wait_for(lambda: (cluster.get(name) or {}).get("status", {}).get("phase") == "Stopped", what="Stopped")
    wait_for(
        lambda: [f for f in files.of_recording(name) if f["spec"]["location"]["key"] == playlist],
        what="the playlist's RecordedFile",
    )
    return name, prefix, playlist


def _session_objects(s3: Any, prefix: str, playlist: str) -> set[str]:
    stem = playlist.removesuffix(".m3u8")
    return {k for k in s3_keys(s3, BUCKET, prefix) if k.startswith(stem)}


def _others(s3: Any, prefix: str, playlist: str) -> set[str]:
    """Objects that look like sessions' but are not this one's slices: all must survive."""
    stem = playlist.removesuffix(".m3u8")
    cname_part = stem.rsplit("/", 1)[1].split("_", 1)[1]
    keys = {
        f"{prefix}othersid_{cname_part}.m3u8",  # another session in the same prefix
        f"{prefix}othersid_{cname_part}_20250101000000000.ts",
        f"{stem}_neighbour.mp4",  # starts like the session, not a slice
        f"{prefix}sub/{stem.rsplit('/', 1)[1]}_20250101000000000.ts",  # another directory
    }
    for key in keys:
        s3.put_object(Bucket=BUCKET, Key=key, Body=b"not this session's")
    return keys


def test_deleting_the_recording_deletes_the_playlist_and_all_its_slices(
    cluster: Cluster, agora: Agora, files: Files, s3: Any
) -> None:
    name, prefix, playlist = _stopped_hls_session(cluster, agora, files, s3)
    stored = _session_objects(s3, prefix, playlist)
    slices = {k for k in stored if k.endswith(".ts")}
    assert len(slices) >= 3 and stored == {playlist, *slices}, stored
    text = s3.get_object(Bucket=BUCKET, Key=playlist)["Body"].read().decode()
    assert {f"{prefix}{line}" for line in text.splitlines() if line and not line.startswith("#")} == slices
    # Only the playlist is a RecordedFile: Agora reports the M3U8 name, never its slices.
    assert [f["spec"]["location"]["key"] for f in files.of_recording(name)] == [playlist]
    others = _others(s3, prefix, playlist)

    assert cluster.delete(name).status_code == 200
    wait_for(lambda: cluster.get(name) is None, timeout=30, what="the recording to go")
    assert files.of_recording(name) == []
    assert s3_keys(s3, BUCKET, prefix) == others


def test_deleting_the_playlist_file_after_the_playlist_is_gone_lists_the_slices(
    cluster: Cluster, agora: Agora, files: Files, s3: Any
) -> None:
    name, prefix, playlist = _stopped_hls_session(cluster, agora, files, s3)
    slices = _session_objects(s3, prefix, playlist) - {playlist}
    assert len(slices) >= 3
    others = _others(s3, prefix, playlist)
    s3.delete_object(Bucket=BUCKET, Key=playlist)  # e.g. a first deletion that died after it

    [playlist_file] = files.of_recording(name)
    assert files.delete(playlist_file["metadata"]["name"]).status_code == 200
    wait_for(lambda: files.get(playlist_file["metadata"]["name"]) is None, what="the playlist's file to go")
    assert s3_keys(s3, BUCKET, prefix) == others
    events = files.events(playlist_file["metadata"]["name"])
    assert any(e["reason"] == "SlicesDeleted" and f"deleted {len(slices)} " in e["message"] for e in events)
    cluster.delete(name)
    wait_for(lambda: cluster.get(name) is None, timeout=30, what="the recording to go")


def test_retention_deletes_the_whole_session(cluster: Cluster, agora: Agora, files: Files, s3: Any) -> None:
    name, prefix, playlist = _stopped_hls_session(cluster, agora, files, s3)
    assert len(_session_objects(s3, prefix, playlist)) >= 4
    others = _others(s3, prefix, playlist)
    [playlist_file] = files.of_recording(name)
    # The file expires (as `retention.deleteAfter` would have set it): the schedule deletes it.
    expired = files.patch(playlist_file["metadata"]["name"], {"spec": {"expiresAt": "2020-01-01T00:00:00Z"}})
    assert expired.status_code == 200, expired.text
    wait_for(lambda: files.get(playlist_file["metadata"]["name"]) is None, what="the expired file to go")
    assert s3_keys(s3, BUCKET, prefix) == others
    cluster.delete(name)
    wait_for(lambda: cluster.get(name) is None, timeout=30, what="the recording to go")


def test_a_local_recordings_playlist_is_deleted_alone(files: Files, s3: Any) -> None:
    """A LocalRecording's playlist and segments are RecordedFiles each: no cascade."""
    tag = uuid.uuid4().hex[:8]
    playlist, segment = f"local/{tag}/cam.m3u8", f"local/{tag}/cam_20250101000000000.ts"
    s3.put_object(Bucket=BUCKET, Key=segment, Body=b"segment")
    s3.put_object(Bucket=BUCKET, Key=playlist, Body=b"#EXTM3U\n#EXTINF:10,\ncam_20250101000000000.ts\n")
    assert files.create(recorded_file(f"pl-{tag}", playlist)).status_code == 201
    wait_for(lambda: ((files.get(f"pl-{tag}") or {}).get("status") or {}).get("phase"), what="registered")
    files.delete(f"pl-{tag}")
    wait_for(lambda: files.get(f"pl-{tag}") is None, what="the playlist's file to go")
    assert s3_keys(s3, BUCKET, f"local/{tag}/") == {segment}
