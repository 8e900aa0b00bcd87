"""A live RTSP(S) server for the recorder tests: GStreamer's gst-rtsp-server on 127.0.0.1.

FFmpeg cannot serve RTSP to a puller (its `-rtsp_flags listen` only receives a pushed stream), so the rtsp/rtsps pull tests run this
script with Debian's own `/usr/bin/python3` (python3-gi + gir1.2-gst-rtsp-server-1.0 +
gstreamer1.0-plugins-{base,good,ugly}; `make system-packages` installs them), not the project's
virtualenv. It serves one live mount, `/live`: H.264 video (x264enc, 1 s GOP) and Opus audio.

    /usr/bin/python3 rtsp_server.py [--cert cert.pem --key key.pem]

binds a free port (or `--port`), prints `READY <port>` on stdout and serves until SIGTERM/SIGINT.
With `--cert`/`--key` (PEM) the server speaks RTSP over TLS (rtsps://) only.
"""

import argparse
import signal
import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import Gio, GLib, Gst, GstRtspServer  # noqa: E402

MOUNT = "/live"
PIPELINE = (
    "( videotestsrc is-live=true pattern=smpte ! video/x-raw,width=320,height=180,framerate=25/1"
    " ! x264enc tune=zerolatency speed-preset=ultrafast key-int-max=25"
    " ! rtph264pay name=pay0 pt=96 config-interval=1"
    "  audiotestsrc is-live=true wave=sine ! audioconvert ! audioresample ! audio/x-raw,rate=48000"
    " ! opusenc ! rtpopuspay name=pay1 pt=97 )"
)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=0, help="TCP port (0: any free port)")
    parser.add_argument("--cert", help="PEM certificate: serve RTSP over TLS")
    parser.add_argument("--key", help="PEM private key of --cert")
    args = parser.parse_args()
    Gst.init(None)

    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(str(args.port))
    factory = GstRtspServer.RTSPMediaFactory()
    factory.set_launch(PIPELINE)
    factory.set_shared(True)
    if args.cert:
        # TLS: the default auth checks the connection is TLS and the token's role against the
        # factory's permissions, so give anonymous clients a role that may access and construct.
        auth = GstRtspServer.RTSPAuth()
        auth.set_tls_certificate(Gio.TlsCertificate.new_from_files(args.cert, args.key or args.cert))
        token = GstRtspServer.RTSPToken()
        token.set_string(GstRtspServer.RTSP_TOKEN_MEDIA_FACTORY_ROLE, "anonymous")
        auth.set_default_token(token)
        server.set_auth(auth)
        factory.add_role_from_structure(
            Gst.Structure.new_from_string(
                "anonymous, media.factory.access=(boolean)true, media.factory.construct=(boolean)true"
            )
        )
    server.get_mount_points().add_factory(MOUNT, factory)

    loop = GLib.MainLoop()
    if server.attach(None) == 0:
        print(f"cannot bind 127.0.0.1:{args.port}", file=sys.stderr)
        return 1
    for sig in (signal.SIGTERM, signal.SIGINT):
        GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, sig, loop.quit)
    print(f"READY {server.get_bound_port()}", flush=True)
    loop.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
