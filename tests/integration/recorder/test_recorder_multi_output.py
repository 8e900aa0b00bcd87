"""Several outputs of one capture in one FFmpeg process: an mp4 archive, an HLS event playlist a
player follows while recording, and jpg thumbnails, each numbered, named and stored on its own, and
each resumed by the next agent after a kill.

Source: an ffmpeg publisher of 25 fps 320x180 H.264 (GOP 1 s) + AAC over UDP on loopback; the real
agent with Debian's FFmpeg; storage is a volume directory; every check is ffprobe's.
"""

from __future__ import annotations

import os
import signal
import socket
from pathlib import Path
from typing import Any

from recording_operator.api.agent import ClosedFile
from recording_sandbox.ports import free_port
from tests.support.recorder import (
    ffmpeg_child_of,
    picture,
    probe,
    probe_live,
    publisher,
    run_agent,
    volume_spec,
)

OUTPUTS = [
    {"name": "live", "format": "hls", "segmentDuration": "1s"},
    {"name": "thumbs", "format": "jpg", "segmentDuration": "1s", "width": 160},
]


def spec(port: int) -> dict[str, Any]:
    return {
        "input": {"url": f"udp://127.0.0.1:{port}", "readTimeout": "2s", "stallTimeout": "4s"},
        "output": {
            "format": "mp4",
            "segmentDuration": "2s",
            "fileNameTemplate": "{recording}-{output}-{index}",
        },
        "additionalOutputs": OUTPUTS,
        "storage": volume_spec(),
    }


def by_output(files: list[ClosedFile]) -> dict[str, list[ClosedFile]]:
    found: dict[str, list[ClosedFile]] = {}
    for f in files:
        found.setdefault(f.output, []).append(f)
    return found


def playlist_segments(playlist: Path) -> list[str]:
    return [ln for ln in playlist.read_text().splitlines() if ln and not ln.startswith("#")]


def test_one_capture_gives_an_archive_a_followable_playlist_and_thumbnails(tmp_path: Path) -> None:
    port = free_port(socket.SOCK_DGRAM)
    volume = tmp_path / "volume" / "team"
    playlist = volume / "rec-live-00000.m3u8"
    with run_agent(tmp_path, spec(port)) as agent:
        agent.wait_for(lambda s: s.sessions >= 1)
        pub = publisher(f"udp://127.0.0.1:{port}?pkt_size=1316", seconds=10)
        # While recording: the stored playlist lists stored segments only, has no end, and plays.
        live = agent.wait_for(lambda s: bool(s.playlists) and len(by_output(s.files).get("live", [])) >= 3)
        assert live.playlists == {"live": "volume://recordings/team/rec-live-00000.m3u8"}
        following = playlist.read_text()
        assert "#EXT-X-ENDLIST" not in following and "#EXT-X-PLAYLIST-TYPE:EVENT" in following
        assert all((volume / n).exists() for n in playlist_segments(playlist))
        assert probe_live(playlist, seconds=2) == {"streams": ["audio", "video"], "decode_errors": 0}
        agent.wait_for(lambda s: len(by_output(s.files).get("main", [])) >= 2)
        assert agent.stop() == 0, agent.log()
        pub.kill()
    names = sorted(p.name for p in volume.iterdir())
    archive = [n for n in names if n.startswith("rec-main-")]
    segments = [n for n in names if n.startswith("rec-live-") and n.endswith(".ts")]
    thumbs = [n for n in names if n.startswith("rec-thumbs-")]
    assert len(archive) >= 2 and len(segments) >= 4 and len(thumbs) >= 4, names
    indices = [int(n.rsplit("-", 1)[1].split(".")[0]) for n in archive + segments + thumbs]
    assert len(indices) == len(set(indices)), "an index is never used twice across outputs"
    for name in archive:
        info = probe(volume / name)
        assert info["format"].startswith("mov,mp4") and info["streams"] == ["audio", "video"], (name, info)
        assert info["decode_errors"] == 0 and info["duration"] > 0, (name, info)  # the last one may be short
    assert probe(volume / archive[0])["duration"] >= 1.5
    # After the stop: the playlist is final and lists every stored segment.
    final = playlist.read_text()
    assert final.rstrip().endswith("#EXT-X-ENDLIST")
    assert sorted(playlist_segments(playlist)) == segments
    info = probe(playlist)
    assert info["streams"] == ["audio", "video"] and info["decode_errors"] == 0 and info["duration"] >= 3.0, (
        info
    )
    for name in thumbs:
        assert name.endswith(".jpg")
        assert picture(volume / name) == {"codec_name": "mjpeg", "width": 160, "height": 90}, name
    assert list((tmp_path / "work" / "outputs" / "thumbs" / "parts").iterdir()) == []  # stored, then deleted


def test_the_next_agent_resumes_every_output_after_a_kill(tmp_path: Path) -> None:
    """Agent and FFmpeg killed at once, the work dir kept: the next agent stores what each output left
    (from the index it was given) and every output goes on numbering after it."""
    port = free_port(socket.SOCK_DGRAM)
    volume = tmp_path / "volume" / "team"
    pub = publisher(f"udp://127.0.0.1:{port}?pkt_size=1316", seconds=30)
    try:
        with run_agent(tmp_path, spec(port)) as first:
            killed = first.wait_for(
                lambda s: (
                    all(len(by_output(s.files).get(o, [])) >= 1 for o in ("main", "live", "thumbs"))
                    and (s.stats.outTimeMs or 0) >= 3000
                )
            )
            os.kill(ffmpeg_child_of(first.proc.pid), signal.SIGKILL)
            first.proc.kill()
            first.proc.wait()
        before = {p.name for p in volume.iterdir()}
        # The controller gives the next Pod one past every index it has seen.
        resume = killed.nextIndex + 20
        with run_agent(tmp_path, spec(port), next_index=resume) as second:
            after = second.wait_for(
                lambda s: (
                    s.uploadPending == 0
                    and all(
                        any(
                            not f.partial and f.startedAt > killed.stats.updatedAt
                            for f in by_output(s.files).get(o, [])
                        )
                        for o in ("main", "live", "thumbs")
                    )
                ),
                timeout=40,
            )
            assert second.stop() == 0, second.log()
    finally:
        pub.kill()
    outputs = by_output(after.files)
    for name in ("main", "live", "thumbs"):
        indices = [f.index for f in outputs[name]]
        assert indices and min(indices) >= resume and indices == sorted(indices), (name, indices)
    all_indices = [f.index for f in after.files]
    assert len(all_indices) == len(set(all_indices))
    names = {p.name for p in volume.iterdir()}
    assert before < names
    # The second agent's own playlist, named by its first index after what it recovered.
    assert after.playlists is not None
    second_playlist = volume / after.playlists["live"].rsplit("/", 1)[1]
    assert second_playlist.name != "rec-live-00000.m3u8" and second_playlist.name in names
    assert playlist_segments(second_playlist), "the new playlist lists its segments"
    assert probe(second_playlist)["decode_errors"] == 0
    for f in outputs["main"]:
        if f.partial:
            continue  # what FFmpeg flushed before the kill (header only when killed just after a cut)
        info = probe(volume / f.name)
        assert info["streams"] == ["audio", "video"] and info["decode_errors"] == 0, info
    for f in outputs["thumbs"]:
        assert picture(volume / f.name)["width"] == 160
