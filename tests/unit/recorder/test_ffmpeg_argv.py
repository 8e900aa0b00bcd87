"""The pure argv builder: per input type, per output format, transcoding, names."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from recording_operator.api.v1alpha1.localrecording import (
    EXTENSIONS,
    LocalRecordingSpec,
    input_kind,
    unverifiable_tls,
)
from recording_operator.recorder import ffmpeg as ff

PARTS = Path("/w/parts")
STORAGE = {"vendor": "volume", "volume": {"claimName": "rec"}}


def spec(input: dict[str, Any] | None = None, **fields: Any) -> LocalRecordingSpec:
    return LocalRecordingSpec.model_validate(
        {"input": input or {"url": "srt://src:9000"}, "storage": STORAGE, **fields}
    )


def argv(s: LocalRecordingSpec, **kw: Any) -> list[str]:
    return ff.build_argv(s, parts_dir=PARTS, start_index=kw.pop("start_index", 3), **kw)


def opt(args: list[str], name: str) -> str:
    """Value of the first `name` option."""
    return args[args.index(name) + 1]


def before_input(args: list[str]) -> list[str]:
    return args[: args.index("-i")]


@pytest.mark.parametrize(
    ("inp", "kind", "whitelist", "url"),
    [
        ({"url": "srt://src:9000"}, "srt", "srt,udp", "srt://src:9000"),
        ({"url": "rtmp://src/live/key"}, "rtmp", "rtmp,tcp", "rtmp://src/live/key"),
        ({"url": "rtmps://src/live/key"}, "rtmps", "rtmps,rtmp,tls,tcp", "rtmps://src/live/key"),
        ({"url": "rtsp://cam/stream"}, "rtsp", "rtsp,rtp,udp,tcp", "rtsp://cam/stream"),
        ({"url": "rtsps://cam/stream", "tls": {"insecureSkipVerify": True}}, "rtsps", "rtsps,rtsp,rtp,udp,tcp,tls", "rtsps://cam/stream"),
        ({"url": "https://cdn/live/index.m3u8", "tls": {"insecureSkipVerify": True}}, "hls", "http,https,tcp,tls,crypto", "https://cdn/live/index.m3u8"),
        ({"url": "https://cdn/live/manifest.mpd", "tls": {"insecureSkipVerify": True}}, "dash", "http,https,tcp,tls,crypto", "https://cdn/live/manifest.mpd"),
        ({"url": "http://cdn/live.ts"}, "http", "http,https,tcp,tls", "http://cdn/live.ts"),
        ({"url": "udp://239.1.1.1:5000"}, "udp", "udp",
         "udp://239.1.1.1:5000?timeout=10000000&fifo_size=1000000&overrun_nonfatal=1"),
        ({"url": "rtp://0.0.0.0:5004"}, "rtp", "rtp,udp", "rtp://0.0.0.0:5004?timeout=10000000"),
        ({"url": "rist://src:8000"}, "rist", "rist", "rist://src:8000"),
        ({"listen": {"protocol": "srt", "port": 9000}}, "srt", "srt,udp", "srt://0.0.0.0:9000"),
        ({"listen": {"protocol": "rtmp", "port": 1935}}, "rtmp", "rtmp,tcp", "rtmp://0.0.0.0:1935/live/stream"),
        ({"listen": {"protocol": "udp", "port": 5000}}, "udp", "udp",
         "udp://0.0.0.0:5000?timeout=10000000&fifo_size=1000000&overrun_nonfatal=1"),
        ({"listen": {"protocol": "rist", "port": 8000}}, "rist", "rist", "rist://@0.0.0.0:8000"),
    ],
)  # fmt: skip
def test_every_input_type(inp: dict[str, Any], kind: str, whitelist: str, url: str) -> None:
    s = spec(inp)
    assert input_kind(s.input) == kind
    args = argv(s)
    assert opt(args, "-protocol_whitelist") == whitelist
    assert opt(args, "-i") == url
    pre = before_input(args)
    # low probing (progress within ~1 s instead of ~5 s), progress on stdout with a cadence, stderr stats off
    assert opt(pre, "-analyzeduration") == "1000000" and opt(pre, "-probesize") == "1000000"
    assert opt(args, "-progress") == "pipe:1" and "-stats_period" in args and "-nostats" in args
    assert opt(args, "-flush_packets") == "1"


@pytest.mark.parametrize(
    ("inp", "option", "value"),
    [
        ({"url": "srt://s:1"}, "-timeout", "10000000"),
        ({"url": "rtmp://s/a/b", "readTimeout": "3s"}, "-rw_timeout", "3000000"),
        ({"url": "rtsp://s/x"}, "-timeout", "10000000"),
        ({"url": "rtsp://s/x", "rtspTransport": "udp"}, "-rtsp_transport", "udp"),
        ({"url": "http://s/a.m3u8"}, "-rw_timeout", "10000000"),
        ({"url": "http://s/a.m3u8"}, "-m3u8_hold_counters", "10"),
        ({"url": "http://s/a.ts"}, "-reconnect_streamed", "1"),
        ({"listen": {"protocol": "rtmp", "port": 1935}}, "-listen", "1"),
        ({"listen": {"protocol": "srt", "port": 9000}}, "-mode", "listener"),
        ({"url": "srt://s:1"}, "-mode", "caller"),
        ({"url": "srt://s:1", "latency": "200ms"}, "-latency", "200000"),
        (
            {"url": "srt://s:1", "streamid": "#!::r=live/cam1,m=request"},
            "-streamid",
            "#!::r=live/cam1,m=request",
        ),
    ],
)
def test_read_timeouts_and_protocol_options(inp: dict[str, Any], option: str, value: str) -> None:
    assert opt(before_input(argv(spec(inp))), option) == value


CA_REF = {"caConfigMapRef": {"name": "source-ca", "key": "ca.crt"}}
CA_FILE = Path("/etc/recorder-tls/ca.crt")


@pytest.mark.parametrize("url", ["https://cdn/live.ts", "rtmps://ingest/live/key"])
def test_tls_inputs_verify_by_default_against_the_system_store(url: str) -> None:
    pre = before_input(argv(spec({"url": url})))
    assert opt(pre, "-tls_verify") == "1"
    assert "-ca_file" not in pre and "-verifyhost" not in pre


@pytest.mark.parametrize("url", ["https://cdn/live.ts", "rtmps://ingest/live/key"])
def test_tls_inputs_trust_the_mounted_ca_and_server_name(url: str) -> None:
    s = spec({"url": url, "tls": {**CA_REF, "serverName": "origin.example"}})
    pre = before_input(argv(s, ca_file=CA_FILE))
    assert opt(pre, "-tls_verify") == "1"
    assert opt(pre, "-ca_file") == str(CA_FILE)
    assert opt(pre, "-verifyhost") == "origin.example"


@pytest.mark.parametrize(
    "url",
    [
        "https://cdn/live.ts",
        "rtmps://ingest/live/key",
        "https://cdn/index.m3u8",
        "https://cdn/m.mpd",
        "rtsps://cam/s",
    ],
)
def test_insecure_skip_verify_passes_no_tls_options(url: str) -> None:
    s = spec({"url": url, "tls": {"insecureSkipVerify": True}})
    args = argv(s, ca_file=CA_FILE)
    assert not {"-tls_verify", "-ca_file", "-verifyhost"} & set(args)
    assert unverifiable_tls(s.input) is None


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("https://cdn/live/index.m3u8", "segments"),
        ("https://cdn/live/INDEX.M3U8?token=x", "segments"),
        ("https://cdn/live/manifest.mpd", "segments"),
        ("rtsps://cam/stream", "rtsps"),
    ],
)
def test_unverifiable_tls_inputs_are_refused_not_recorded_unverified(url: str, why: str) -> None:
    for tls in (None, CA_REF):
        s = spec({"url": url, **({"tls": tls} if tls else {})})
        problem = unverifiable_tls(s.input)
        assert problem is not None and why in problem and "insecureSkipVerify" in problem
        with pytest.raises(ValueError, match="insecureSkipVerify"):
            argv(s, ca_file=CA_FILE if tls else None)


@pytest.mark.parametrize(
    "inp",
    [{"url": "http://cdn/live.ts"}, {"url": "http://cdn/index.m3u8"}, {"url": "rtmp://s/a/b"},
     {"url": "rtsp://cam/s"}, {"url": "srt://s:1"}, {"listen": {"protocol": "rtmp", "port": 1935}}],
)  # fmt: skip
def test_plain_inputs_get_no_tls_options(inp: dict[str, Any]) -> None:
    s = spec(inp)
    assert ff.tls_args(s.input) == [] and unverifiable_tls(s.input) is None
    assert "-tls_verify" not in argv(s)


def test_srt_passphrase_is_an_option_and_redacted() -> None:
    args = argv(
        spec({"url": "srt://s:1", "passphraseSecretRef": {"name": "x", "key": "p"}}), passphrase="s3cr&t=pass"
    )
    assert opt(before_input(args), "-passphrase") == "s3cr&t=pass"
    assert "passphrase" not in opt(args, "-i")
    shown = " ".join(ff.redact_argv(args, ["s3cr&t=pass"]))
    assert "s3cr&t=pass" not in shown and "-passphrase ***" in shown


def test_rtp_with_sdp_reads_agent_file_with_file_whitelist() -> None:
    s = spec({"url": "rtp://0.0.0.0:5004", "sdp": "v=0\r\n"})
    args = argv(s, sdp_path=Path("/w/input.sdp"))
    assert opt(args, "-protocol_whitelist") == "file,rtp,udp"
    assert opt(args, "-f") == "sdp" and opt(args, "-i") == "/w/input.sdp"
    with pytest.raises(ValueError, match="SDP"):
        argv(s)


@pytest.mark.parametrize(
    ("fmt", "muxer", "ext"),
    [("mp4", "mp4", "mp4"), ("mkv", "matroska", "mkv"), ("flv", "flv", "flv"), ("mpegts", "mpegts", "ts"),
     ("mp3", "mp3", "mp3"), ("avi", "avi", "avi")],
)  # fmt: skip
def test_continuous_outputs(fmt: str, muxer: str, ext: str) -> None:
    args = argv(spec(output={"format": fmt, "continuous": True}), start_index=7)
    # one file through the segment muxer (its inner muxer fixes ADTS AAC from MPEG-TS sources)
    assert args[-1] == f"/w/parts/seg_%06d.{ext}" and opt(args, "-segment_start_number") == "7"
    assert opt(args, "-segment_time") == "1000000000" and opt(args, "-segment_format") == muxer
    if fmt == "mp4":
        assert "movflags=+frag_keyframe+empty_moov+default_base_moof" in opt(args, "-segment_format_options")
    if fmt == "mp3":
        assert "-vn" in args and opt(args, "-c:a") == "libmp3lame" and opt(args, "-map") == "0:a:0"
    else:
        assert opt(args, "-c:v") == "copy" and opt(args, "-c:a") == "copy"


@pytest.mark.parametrize("fmt", ["mp4", "mkv", "flv", "mpegts", "mp3", "avi"])
def test_without_segment_duration_files_are_one_minute_long(fmt: str) -> None:
    # A killed recorder risks one open segment, not the whole recording.
    assert opt(argv(spec(output={"format": fmt})), "-segment_time") == "60"
    assert opt(argv(spec(output={"format": "hls"})), "-hls_time") == "6"


@pytest.mark.parametrize("fmt", ["mp4", "mkv", "flv", "mpegts", "mp3", "avi"])
def test_segmented_outputs_use_segment_muxer_with_csv_list(fmt: str) -> None:
    args = argv(spec(output={"format": fmt, "segmentDuration": "10m"}), start_index=12)
    assert opt(args, "-f") == "segment" and opt(args, "-segment_time") == "600"
    assert opt(args, "-segment_format") == ff.MUXERS[fmt]
    assert opt(args, "-segment_list_type") == "csv" and opt(args, "-segment_list_flags") == "+live"
    assert opt(args, "-segment_list") == "/w/parts/segments.csv"
    assert opt(args, "-segment_start_number") == "12" and opt(args, "-reset_timestamps") == "1"
    assert "flush_packets=1" in opt(args, "-segment_format_options")
    if fmt == "mp4":
        assert "movflags=+frag_keyframe+empty_moov+default_base_moof" in opt(args, "-segment_format_options")
    assert args[-1] == f"/w/parts/seg_%06d.{EXTENSIONS[fmt]}"


def test_hls_event_playlist_appends() -> None:
    args = argv(spec(output={"format": "hls"}), start_index=4)
    assert opt(args, "-f") == "hls" and opt(args, "-hls_time") == "6"
    assert opt(args, "-hls_playlist_type") == "event" and opt(args, "-hls_list_size") == "0"
    assert "+append_list" in opt(args, "-hls_flags") and "delete_segments" not in opt(args, "-hls_flags")
    assert opt(args, "-start_number") == "4" and args[-1] == "/w/parts/index.m3u8"


def test_video_and_audio_transcoding_options() -> None:
    s = spec(
        output={"format": "mp4", "segmentDuration": "6s"},
        transcoding={
            "video": {"codec": "h264", "bitrateKbps": 2500, "preset": "ultrafast", "keyframeInterval": "2s",
                      "width": 1280, "height": 720, "fps": 30, "pixelFormat": "yuv420p"},
            "audio": {"codec": "opus", "bitrateKbps": 96, "sampleRate": 48000, "channels": 2},
        },
    )  # fmt: skip
    args = argv(s)
    assert opt(args, "-c:v") == "libx264" and opt(args, "-preset") == "ultrafast"
    assert (
        opt(args, "-b:v") == "2500k" and opt(args, "-maxrate") == "2500k" and opt(args, "-bufsize") == "5000k"
    )
    assert opt(args, "-force_key_frames") == "expr:gte(t,n_forced*2)"  # gcd(2 s, 6 s)
    assert opt(args, "-sc_threshold") == "0" and opt(args, "-pix_fmt") == "yuv420p"
    assert opt(args, "-vf") == "scale=1280:720,fps=30"
    assert opt(args, "-c:a") == "libopus" and opt(args, "-b:a") == "96k"
    assert opt(args, "-ar") == "48000" and opt(args, "-ac") == "2"


def test_crf_with_bitrate_cap_and_hevc_tag() -> None:
    args = argv(spec(transcoding={"video": {"codec": "hevc", "crf": 28, "bitrateKbps": 4000}}))
    assert opt(args, "-c:v") == "libx265" and opt(args, "-crf") == "28"
    assert opt(args, "-maxrate") == "4000k" and "-b:v" not in args
    assert opt(args, "-tag:v") == "hvc1" and opt(args, "-c:a") == "copy"


def test_segment_cut_keyframes_forced_when_transcoding() -> None:
    args = argv(spec(output={"format": "mpegts", "segmentDuration": "3s"}, transcoding={"video": {}}))
    assert opt(args, "-force_key_frames") == "expr:gte(t,n_forced*3)"


def test_audio_track_and_channel_selection() -> None:
    args = argv(spec(audio={"track": 1, "channels": [3, 4]}))
    assert "0:a:1?" in args and opt(args, "-af") == "pan=stereo|c0=c2|c1=c3"
    assert opt(args, "-c:a") == "aac" and opt(args, "-c:v") == "copy"
    mono = argv(spec(audio={"channels": [2]}))
    assert opt(mono, "-af") == "pan=mono|c0=c1"


def test_overlay_uses_local_file_and_forces_video_encode() -> None:
    s = spec(overlay={"imageUrl": "https://cdn/logo.png", "position": {"x": 20, "y": 30}})
    with pytest.raises(ValueError, match="overlay"):
        argv(s)
    args = argv(s, overlay_path=Path("/w/overlay.img"))
    second_input = [i for i, a in enumerate(args) if a == "-i"][1]
    assert args[second_input - 1] == "file" and args[second_input + 1] == "/w/overlay.img"
    graph = opt(args, "-filter_complex")
    assert "overlay=20:30" in graph and opt(args, "-map") == "[vout]"
    assert opt(args, "-c:v") == "libx264"


def test_concat_join_argv() -> None:
    args = ff.concat_argv(Path("/w/list.ffconcat"), Path("/w/out.mp4"), "mp4")
    assert opt(args, "-f") == "concat" and opt(args, "-safe") == "0"
    assert opt(args, "-protocol_whitelist") == "file" and opt(args, "-movflags") == "+faststart"


START = datetime(2026, 11, 21, 12, 0, 5, tzinfo=UTC)


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("{recording}-{start:%Y%m%d-%H%M%S}-{index}", "standup-20261121-120005-00042.mp4"),
        ("{namespace}_{recording}_{index}", "team_standup_00042.mp4"),
        ("{start}-{index}", "20261121T120005Z-00042.mp4"),
    ],
)
def test_file_names_from_template(template: str, expected: str) -> None:
    name = ff.render_file_name(
        template, recording="standup", namespace="team", index=42, start=START, extension="mp4"
    )
    assert name == expected


@pytest.mark.parametrize(
    "template", ["../{index}", "a/{index}", "{index}{start:%c}", "{bogus}{index}", ".{index}"]
)
def test_unsafe_templates_rejected(template: str) -> None:
    with pytest.raises(ff.TemplateError):
        ff.render_file_name(template, recording="r", namespace="n", index=1, start=START, extension="ts")


def test_part_names_roundtrip() -> None:
    assert ff.part_name(7, "mpegts") == "seg_000007.ts"
    assert ff.parse_part_name("seg_000007.ts") == 7 and ff.parse_part_name("segments.csv") is None


THREE_OUTPUTS = [
    {"name": "live", "format": "hls", "segmentDuration": "2s", "hlsPlaylistType": "live", "hlsListSize": 5},
    {"name": "thumbs", "format": "jpg", "segmentDuration": "5s", "width": 320},
]


def outputs_of(args: list[str]) -> list[list[str]]:
    """The argv after the last input, one list per output (each ends with the output's path)."""
    rest = args[len(args) - args[::-1].index("-i") + 1 :]
    found, current = [], []
    for k, arg in enumerate(rest):
        current.append(arg)
        if arg.startswith("/w/") and (k + 1 == len(rest) or rest[k + 1] in ("-map", "-filter_complex")):
            found.append(current)
            current = []
    return found


def test_one_process_writes_each_additional_output_with_its_own_muxer_and_numbering() -> None:
    s = spec(output={"format": "mp4", "segmentDuration": "10s"}, additionalOutputs=THREE_OUTPUTS)
    args = argv(s, extra_parts=[(Path("/w/live"), 0), (Path("/w/thumbs"), 7)])
    # Nothing else decodes: the thumbnails are decoded from keyframes only.
    assert opt(before_input(args), "-skip_frame") == "nokey"
    main, live, thumbs = outputs_of(args)
    assert (
        opt(main, "-f") == "segment" and main[-1] == "/w/parts/seg_%06d.mp4" and opt(main, "-c:v") == "copy"
    )
    # hls live: a sliding window, no event type; its own parts directory and numbering.
    assert (
        opt(live, "-f") == "hls" and opt(live, "-hls_list_size") == "5" and "-hls_playlist_type" not in live
    )
    assert (
        opt(live, "-hls_time") == "2"
        and opt(live, "-start_number") == "0"
        and live[-1] == "/w/live/index.m3u8"
    )
    assert ["-map", "0:v:0?", "-map", "0:a:0?"] == live[:4]
    # Thumbnails decode: one picture every 5 s, 320 px wide, written atomically by image2.
    assert opt(thumbs, "-map") == "0:v:0" and opt(thumbs, "-vf") == "fps=1/5,scale=320:-2"
    assert (
        opt(thumbs, "-c:v") == "mjpeg"
        and opt(thumbs, "-f") == "image2"
        and opt(thumbs, "-atomic_writing") == "1"
    )
    assert opt(thumbs, "-start_number") == "7" and thumbs[-1] == "/w/thumbs/seg_%06d.jpg"
    with pytest.raises(ValueError, match="as many parts directories"):
        argv(s)


def test_an_event_playlist_output_and_default_intervals() -> None:
    s = spec(additionalOutputs=[{"name": "hls", "format": "hls"}, {"name": "jpg", "format": "jpg"}])
    _, live, thumbs = outputs_of(argv(s, extra_parts=[(Path("/w/a"), 0), (Path("/w/b"), 0)]))
    assert opt(live, "-hls_playlist_type") == "event" and opt(live, "-hls_list_size") == "0"
    assert opt(live, "-hls_time") == "6" and opt(thumbs, "-vf") == "fps=1/10"


def test_each_media_output_is_encoded_and_an_overlay_graph_is_split_between_them() -> None:
    s = spec(
        output={"format": "mp4", "segmentDuration": "10s"},
        transcoding={"video": {"codec": "h264"}},
        overlay={"imageUrl": "https://img.example/logo.png"},
        additionalOutputs=[{"name": "live", "format": "hls", "segmentDuration": "2s"}, THREE_OUTPUTS[1]],
    )
    args = argv(
        s, overlay_path=Path("/w/logo.png"), extra_parts=[(Path("/w/live"), 0), (Path("/w/thumbs"), 0)]
    )
    assert args.count("-filter_complex") == 1 and "-skip_frame" not in args  # the encoder needs every frame
    assert opt(args, "-filter_complex").endswith(",split=2[vout0][vout1]")
    main, live, thumbs = outputs_of(args)
    assert (
        opt(main, "-map") == "[vout0]" and opt(live, "-map") == "[vout1]" and opt(thumbs, "-map") == "0:v:0"
    )
    # Each output's keyframes follow its own segment length.
    assert opt(main, "-force_key_frames") == "expr:gte(t,n_forced*10)"
    assert opt(live, "-force_key_frames") == "expr:gte(t,n_forced*2)"


def test_file_names_take_the_output_name() -> None:
    name = ff.render_file_name(
        "{recording}-{output}-{index}", recording="rec", namespace="ns", index=4,
        start=datetime(2026, 1, 1, tzinfo=UTC), extension="jpg", output="thumbs",
    )  # fmt: skip
    assert name == "rec-thumbs-00004.jpg"


def test_max_size_cuts_short_parts() -> None:
    """maxSize: the segment muxer cuts parts of 2 s (a whole fraction of segmentDuration) that the agent
    joins; forced keyframes (transcoding) follow the parts."""
    args = argv(spec(output={"format": "mkv", "maxSize": "500Mi"}))
    assert opt(args, "-f") == "segment" and opt(args, "-segment_time") == "2"
    assert "-segment_atclocktime" not in args
    s = spec(output={"format": "mp4", "segmentDuration": "5s", "maxSize": "1Gi"}, transcoding={"video": {}})
    args = argv(s)
    assert opt(args, "-segment_time") == "1.66667"
    assert opt(args, "-force_key_frames") == "expr:gte(t,n_forced*1.667)"
    assert ff.file_seconds(s) == 5.0 and ff.file_seconds(spec(output={"maxSize": "1Gi"})) is None
    assert ff.file_seconds(spec(output={"segmentDuration": "10s"})) == 10.0
