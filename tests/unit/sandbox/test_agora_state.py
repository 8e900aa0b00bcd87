"""The pure Agora emulator state machine (https://docs.agora.io/en/cloud-recording/rest-api/overview) over a manual clock."""

from __future__ import annotations

import re
from typing import Any

import pytest

from recording_sandbox.agora.clock import ManualClock
from recording_sandbox.agora.samples import sample_start_request
from recording_sandbox.agora.state import AgoraState, ServiceError

APP = "app1"


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def state(clock: ManualClock) -> AgoraState:
    return AgoraState(clock=clock, status_step_s=1.0)


def _acquire(state: AgoraState, cname: str = "room", uid: str = "99", **cr: Any) -> str:
    status, body = state.acquire(APP, {"cname": cname, "uid": uid, "clientRequest": cr})
    assert status == 200
    return str(body["resourceId"])


def _start(
    state: AgoraState, mode: str = "mix", cname: str = "room", uid: str = "99", **kw: Any
) -> tuple[str, str]:
    rid = _acquire(state, cname, uid, scene=1 if mode == "web" else 0)
    _, body = state.start(
        APP, rid, mode, {"cname": cname, "uid": uid, "clientRequest": sample_start_request(mode, **kw)}
    )
    return rid, str(body["sid"])


def _error(fn: Any, *args: Any) -> ServiceError:
    with pytest.raises(ServiceError) as info:
        fn(*args)
    return info.value


def test_status_walk_and_files_mix(state: AgoraState, clock: ManualClock) -> None:
    state.set_channel_users(APP, "room", ["1001"])
    rid, sid = _start(state)
    statuses = []
    for _ in range(7):
        statuses.append(state.query(APP, rid, sid, "mix")[1]["serverResponse"]["status"])
        clock.advance(1.0)
    assert statuses == [0, 1, 2, 3, 4, 5, 5]
    sr = state.query(APP, rid, sid, "mix")[1]["serverResponse"]
    assert sr["fileListMode"] == "json"
    names = [f["fileName"] for f in sr["fileList"]]
    assert names == [f"rec/demo/{sid}_room.m3u8", f"rec/demo/{sid}_room_0.mp4"]
    clock.advance(2 * 3600)
    names = [f["fileName"] for f in state.query(APP, rid, sid, "mix")[1]["serverResponse"]["fileList"]]
    assert names[-1] == f"rec/demo/{sid}_room_1.mp4"


def test_mix_hls_only_is_string_mode(state: AgoraState, clock: ManualClock) -> None:
    state.set_channel_users(APP, "room", ["1001"])
    rid, sid = _start(state, mp4=False)
    assert state.query(APP, rid, sid, "mix")[1]["serverResponse"]["fileList"] == ""
    clock.advance(5)
    sr = state.query(APP, rid, sid, "mix")[1]["serverResponse"]
    assert sr == {
        "status": 5,
        "fileListMode": "string",
        "fileList": f"rec/demo/{sid}_room.m3u8",
        "sliceStartTime": sr["sliceStartTime"],
    }
    assert sr["sliceStartTime"] > 1_700_000_000_000


def test_individual_files_per_user_and_track(state: AgoraState, clock: ManualClock) -> None:
    rid, sid = _start(state, "individual")
    state.set_channel_users(APP, "room", ["7", "1001"])
    clock.advance(5)
    files = state.query(APP, rid, sid, "individual")[1]["serverResponse"]["fileList"]
    assert [(f["uid"], f["trackType"]) for f in files] == [
        ("7", "audio"),
        ("7", "video"),
        ("1001", "audio"),
        ("1001", "video"),
    ]
    assert files[0]["fileName"] == f"rec/demo/{sid}_room__uid_s_7__uid_e_audio.m3u8"


def test_resource_rules(state: AgoraState, clock: ManualClock) -> None:
    rid = _acquire(state)
    body = {"cname": "room", "uid": "99", "clientRequest": sample_start_request("mix")}
    assert _error(state.start, APP, "garbage", "mix", body).code == 1001
    assert _error(state.start, APP, rid, "mix", {**body, "uid": "98"}).code == 432
    assert _error(state.start, "other-app", rid, "mix", body).code == 432
    clock.advance(301)
    err = _error(state.start, APP, rid, "mix", body)
    assert (err.http_status, err.code) == (400, 433)


def test_already_started_and_conflict(state: AgoraState) -> None:
    rid, _sid = _start(state)
    body = {"cname": "room", "uid": "99", "clientRequest": sample_start_request("mix")}
    err = _error(state.start, APP, rid, "mix", body)
    assert (err.http_status, err.code) == (201, 7)
    assert err.body == {
        "code": 7,
        "reason": "already started",
        "cname": "room",
        "uid": "99",
        "resourceId": rid,
        "sid": "",
    }
    rid2 = _acquire(state)
    err = _error(state.start, APP, rid2, "mix", body)
    assert (err.http_status, err.code, err.reason) == (400, 53, "task conflict")


def test_idle_exit_walks_6_7_8_then_404(state: AgoraState, clock: ManualClock) -> None:
    state.set_channel_users(APP, "room", ["1"])
    rid, sid = _start(state, max_idle_s=10)
    clock.advance(100)
    assert state.query(APP, rid, sid, "mix")[1]["serverResponse"]["status"] == 5
    state.set_channel_users(APP, "room", [])
    clock.advance(10)
    assert state.query(APP, rid, sid, "mix")[1]["serverResponse"]["status"] == 6
    assert _error(state.stop, APP, rid, sid, "mix", {"cname": "room", "uid": "99"}).code == 49
    clock.advance(1)
    assert state.query(APP, rid, sid, "mix")[1]["serverResponse"]["status"] == 7
    clock.advance(1)
    assert state.query(APP, rid, sid, "mix")[1]["serverResponse"]["status"] == 8
    clock.advance(1)
    assert _error(state.query, APP, rid, sid, "mix").http_status == 404
    ended = state.tasks_snapshot()[0]
    assert (ended["sid"], ended["stopped"], ended["stopReason"], ended["status"]) == (sid, True, "idle", 8)


def test_idle_countdown_resets_when_users_return(state: AgoraState, clock: ManualClock) -> None:
    rid, sid = _start(state, max_idle_s=10)
    clock.advance(9)
    state.set_channel_users(APP, "room", ["1"])
    clock.advance(100)
    assert state.query(APP, rid, sid, "mix")[1]["serverResponse"]["status"] == 5


def test_stop_returns_files_then_404_and_49(state: AgoraState, clock: ManualClock) -> None:
    state.set_channel_users(APP, "room", ["1"])
    rid, sid = _start(state)
    clock.advance(10)
    status, body = state.stop(APP, rid, sid, "mix", {"cname": "room", "uid": "99", "clientRequest": {}})
    assert status == 200
    assert body["serverResponse"]["uploadingStatus"] == "uploaded"
    assert len(body["serverResponse"]["fileList"]) == 2
    assert _error(state.query, APP, rid, sid, "mix").http_status == 404
    assert _error(state.stop, APP, rid, sid, "mix", {"cname": "room", "uid": "99"}).code == 49
    clock.advance(3)
    assert _error(state.stop, APP, rid, sid, "mix", {"cname": "room", "uid": "99"}).code == 404
    # the cname+uid is free again
    _start(state)


def test_stop_without_users_is_435(state: AgoraState) -> None:
    rid, sid = _start(state)
    err = _error(state.stop, APP, rid, sid, "mix", {"cname": "room", "uid": "99"})
    assert (err.http_status, err.code) == (206, 435)


def test_sid_mismatch_is_1003_and_unknown_sid_404(state: AgoraState) -> None:
    rid, sid = _start(state)
    rid2 = _acquire(state, uid="98")
    assert _error(state.query, APP, rid2, sid, "mix").code == 1003
    assert _error(state.query, APP, rid, "f" * 32, "mix").body == {
        "code": 404,
        "reason": "failed to find worker",
    }


def test_update_layout_mix_only(state: AgoraState) -> None:
    rid, sid = _start(state, "individual")
    err = _error(
        state.update_layout, APP, rid, sid, "individual", {"cname": "room", "uid": "99", "clientRequest": {}}
    )
    assert (err.http_status, err.code) == (400, 2)


def test_update_layout_overwrites(state: AgoraState) -> None:
    rid, sid = _start(state)
    state.update_layout(
        APP, rid, sid, "mix", {"cname": "room", "uid": "99", "clientRequest": {"mixedVideoLayout": 1}}
    )
    assert state.tasks[sid].layout == {"mixedVideoLayout": 1, "backgroundColor": "#000000"}


def test_resource_expired_hour_counts_from_sid(state: AgoraState, clock: ManualClock) -> None:
    state.set_channel_users(APP, "room", ["1"])
    rid = _acquire(state, resourceExpiredHour=1)
    _, body = state.start(
        APP, rid, "mix", {"cname": "room", "uid": "99", "clientRequest": sample_start_request("mix")}
    )
    clock.advance(3599)
    assert state.query(APP, rid, body["sid"], "mix")[0] == 200
    clock.advance(1)
    assert _error(state.query, APP, rid, body["sid"], "mix").http_status == 404
    assert state.tasks_snapshot()[-1]["stopReason"] == "expired"


def test_web_mode_shapes_onhold_and_max_recording_hour(state: AgoraState, clock: ManualClock) -> None:
    rid, sid = _start(state, "web", cname="my room!")
    clock.advance(5)
    sr = state.query(APP, rid, sid, "web")[1]["serverResponse"]
    payload = sr["extensionServiceState"][0]["payload"]
    assert payload["state"] == "inProgress" and payload["onhold"] is False
    assert [f["filename"] for f in payload["fileList"]] == [
        f"rec/demo/{sid}_my-room-.m3u8",
        f"rec/demo/{sid}_my-room-_0.mp4",
    ]
    state.update(
        APP,
        rid,
        sid,
        "web",
        {"cname": "my room!", "uid": "99", "clientRequest": {"webRecordingConfig": {"onhold": True}}},
    )
    assert (
        state.query(APP, rid, sid, "web")[1]["serverResponse"]["extensionServiceState"][0]["payload"][
            "onhold"
        ]
        is True
    )
    clock.advance(3595)
    assert state.query(APP, rid, sid, "web")[1]["serverResponse"]["status"] == 6
    clock.advance(3)
    assert state.tasks_snapshot()[0]["stopReason"] == "maxRecordingHour"


def test_web_stop_shape(state: AgoraState, clock: ManualClock) -> None:
    rid, sid = _start(state, "web")
    clock.advance(10)
    _, body = state.stop(APP, rid, sid, "web", {"cname": "room", "uid": "99", "clientRequest": {}})
    states = body["serverResponse"]["extensionServiceState"]
    assert states[0] == {"serviceName": "upload_service", "payload": {"uploadingStatus": "uploaded"}}
    assert states[1]["payload"]["state"] == "exit"


def test_screenshot_shape(state: AgoraState, clock: ManualClock) -> None:
    state.set_channel_users(APP, "room", ["5"])
    rid = _acquire(state)
    cr = sample_start_request("individual")
    del cr["recordingFileConfig"]
    cr["snapshotConfig"] = {"captureInterval": 5, "fileType": ["jpg"]}
    _, body = state.start(APP, rid, "individual", {"cname": "room", "uid": "99", "clientRequest": cr})
    clock.advance(20)
    sr = state.query(APP, rid, body["sid"], "individual")[1]["serverResponse"]
    assert set(sr) == {"status", "sliceStartTime"}
    files = state.tasks_snapshot()[-1]["files"]
    assert len(files) == 4 and files[0].endswith(".jpg") and "__uid_s_5__uid_e_video_" in files[0]


def test_history_is_bounded(clock: ManualClock) -> None:
    state = AgoraState(clock=clock, status_step_s=0.0, history_size=3)
    for i in range(5):
        rid, sid = _start(state, uid=str(100 + i))
        with pytest.raises(ServiceError):
            state.stop(APP, rid, sid, "mix", {"cname": "room", "uid": str(100 + i)})
    clock.advance(1)
    assert len(state.tasks_snapshot()) == 3


def test_hls_slices_are_named_like_agoras(state: AgoraState, clock: ManualClock) -> None:
    state.set_channel_users(APP, "room", ["1001"])
    _, sid = _start(state, mp4=False)
    assert state.playlists(state.tasks[sid]) == {}  # no media yet
    clock.advance(5 + 25)  # ready after 5 status steps, then 25 s of media: 10 + 10 + 5
    task = state.tasks[sid]
    [(playlist, slices)] = state.playlists(task).items()
    assert playlist == f"rec/demo/{sid}_room.m3u8"
    names = [name for name, _ in slices]
    assert [seconds for _, seconds in slices] == [10.0, 10.0, 10.0]
    assert all(re.fullmatch(rf"rec/demo/{sid}_room_\d{{17}}\.ts", n) for n in names), names
    assert names == sorted(names) and len(set(names)) == 3
    text = state.playlist_text(slices)
    listed = [line for line in text.splitlines() if line and not line.startswith("#")]
    assert listed == [n.rsplit("/", 1)[1] for n in names] and text.startswith("#EXTM3U\n")


def test_individual_hls_slices_per_track(state: AgoraState, clock: ManualClock) -> None:
    _, sid = _start(state, "individual")
    state.set_channel_users(APP, "room", ["7"])
    clock.advance(10)
    playlists = state.playlists(state.tasks[sid])
    stem = f"rec/demo/{sid}_room__uid_s_7__uid_e_audio"
    assert next(n for n, _ in playlists[f"{stem}.m3u8"]).startswith(f"{stem}_")
