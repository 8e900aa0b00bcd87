"""-progress parsing: the gotchas of FFmpeg 5.1's `-progress` output (out_time_ms in µs, N/A values,
padded speed) on real output shapes."""

from __future__ import annotations

from recording_operator.recorder.progress import ByteRate, ProgressParser

BLOCK = """frame=100
fps=24.93
stream_0_0_q=-1.0
bitrate=1951.8kbits/s
total_size=980044
out_time_us=4017044
out_time_ms=4017044
out_time=00:00:04.017044
dup_frames=0
drop_frames=1
speed=   1x
progress=continue
"""


def _feed(text: str) -> list:
    parser = ProgressParser()
    return [b for line in text.splitlines() if (b := parser.feed(line)) is not None]


def test_block_values_and_units() -> None:
    [block] = _feed(BLOCK)
    assert block.frame == 100 and block.fps == 24.93
    assert block.bitrate_kbps == 1951.8
    assert block.out_time_us == 4017044
    assert block.out_time_ms == 4017  # from out_time_us; out_time_ms is µs too (trac #7345)
    assert block.speed == 1.0  # space padded
    assert block.drop_frames == 1 and block.total_size_bytes == 980044
    assert block.progress == "continue"


def test_na_values_before_first_packet() -> None:
    [block] = _feed(
        "bitrate=N/A\ntotal_size=N/A\nout_time_us=N/A\nout_time_ms=N/A\nspeed=N/A\nprogress=continue\n"
    )
    assert block.bitrate_kbps is None and block.out_time_us is None and block.speed is None
    assert block.frame is None  # audio-only output has no frame/fps keys


def test_old_builds_negative_out_time_and_end_block() -> None:
    blocks = _feed(
        "out_time_us=-9223372036854775807\nprogress=continue\nout_time_us=1500000\nspeed=0.998x\nprogress=end\n"
    )
    assert blocks[0].out_time_us is None
    assert blocks[1].out_time_ms == 1500 and blocks[1].speed == 0.998 and blocks[1].progress == "end"


def test_values_do_not_leak_between_blocks() -> None:
    blocks = _feed("frame=5\nprogress=continue\nspeed=2x\nprogress=continue\n")
    assert blocks[0].frame == 5 and blocks[1].frame is None and blocks[1].speed == 2.0


def test_noise_lines_ignored() -> None:
    assert _feed("garbage without equals\n\nprogress=continue\n")[0].progress == "continue"


def test_byte_rate_measures_kbits_over_media_time_and_restarts_with_a_new_session() -> None:
    rate = ByteRate(window_s=10, min_span_s=2)
    assert rate.feed(0, 0) is None
    assert rate.feed(250_000, 1_000_000) is None  # 1 s of media: too short to tell
    assert rate.feed(500_000, 2_000_000) == 2000.0  # 500 kB in 2 s = 2000 kbit/s
    assert rate.feed(500_000, 2_000_000) == 2000.0  # the same block again changes nothing
    assert rate.feed(400_000, 2_500_000) == 2000.0  # a byte count that went back is ignored
    for second in range(3, 30):
        measured = rate.feed(500_000 + (second - 2) * 125_000, second * 1_000_000)
    assert measured == 1000.0  # the window keeps only the last 10 s: now 125 kB/s
    # A new FFmpeg session starts its media time at 0 again: start over, never a negative rate.
    assert rate.feed(4_000_000, 500_000) is None
