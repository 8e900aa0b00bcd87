"""Prometheus metrics of the recorder agent (`GET /metrics`), all prefixed `recorder_`.

Each agent owns a CollectorRegistry (not the process-global one), so several agents can run in one
process (tests, the sandbox runner) without name clashes.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

__all__ = ["CONTENT_TYPE_LATEST", "RecorderMetrics"]


class RecorderMetrics:
    """The agent's gauges and counters; `render()` gives the text exposition format."""

    def __init__(self) -> None:
        """Create every metric in a fresh registry."""
        self.registry = CollectorRegistry()
        r = self.registry
        self.bitrate_kbps = Gauge(
            "recorder_bitrate_kbps", "Output bitrate (kbit/s) from -progress.", registry=r
        )
        self.fps = Gauge("recorder_fps", "Frames per second from -progress.", registry=r)
        self.speed = Gauge("recorder_speed", "Media seconds per wall second from -progress.", registry=r)
        self.out_time_seconds = Gauge(
            "recorder_out_time_seconds", "Media time written in the current FFmpeg session (s).", registry=r
        )
        self.total_size_bytes = Gauge(
            "recorder_total_size_bytes", "Bytes written by FFmpeg so far (filesystem).", registry=r
        )
        self.recording = Gauge("recorder_recording", "1 while progress blocks arrive.", registry=r)
        self.reconnects = Counter("recorder_reconnects", "FFmpeg restarts.", registry=r)
        self.stalls = Counter("recorder_stalls", "Stall watchdog restarts.", registry=r)
        self.files_closed = Counter("recorder_files_closed", "Files closed by FFmpeg.", registry=r)
        self.upload_bytes = Counter("recorder_upload_bytes", "Bytes uploaded to storage.", registry=r)
        self.uploads = Counter("recorder_uploads", "Files stored.", registry=r)
        self.upload_failures = Counter("recorder_upload_failures", "Failed upload attempts.", registry=r)
        self.upload_pending = Gauge("recorder_upload_pending", "Closed files not yet stored.", registry=r)
        # SRT inputs received by srt-live-transmit (`status.stats.srt`; libsrt's names in parentheses).
        self.srt_rtt_ms = Gauge("recorder_srt_rtt_ms", "SRT round-trip time, ms (msRTT).", registry=r)
        self.srt_receive_rate_mbps = Gauge(
            "recorder_srt_receive_rate_mbps", "SRT receiving rate, Mbit/s (mbpsRecvRate).", registry=r
        )
        self.srt_packets_received = Counter(
            "recorder_srt_packets_received", "SRT packets received (pktRecv).", registry=r
        )
        self.srt_packets_lost = Counter(
            "recorder_srt_packets_lost", "SRT packets detected missing (pktRcvLoss).", registry=r
        )
        self.srt_packets_retransmitted = Counter(
            "recorder_srt_packets_retransmitted",
            "Retransmitted SRT packets received (pktRcvRetrans).",
            registry=r,
        )
        self.srt_packets_dropped = Counter(
            "recorder_srt_packets_dropped",
            "SRT packets dropped as too late to play (pktRcvDrop).",
            registry=r,
        )

    def render(self) -> bytes:
        """The Prometheus text exposition of this registry."""
        return generate_latest(self.registry)
