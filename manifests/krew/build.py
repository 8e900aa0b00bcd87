"""Build the krew archive of `kubectl recording` and render its manifest for a tag.

    python manifests/krew/build.py --tag v0.1.0 --out dist/krew

writes `dist/krew/kubectl-recording.tar.gz` (the launcher `kubectl-recording` and `LICENSE`; byte
for byte the same on every run: fixed mtimes, owners and order) and `dist/krew/recording.yaml`,
`manifests/krew/recording.yaml` rendered the way krew-release-bot renders it on a release, with
the archive's `uri` (`--uri`, default the local file) and `sha256`. Install it locally with
`kubectl krew install --manifest=dist/krew/recording.yaml --archive=dist/krew/kubectl-recording.tar.gz`
(https://krew.sigs.k8s.io/docs/developer-guide/testing-locally/).
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import re
import tarfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
MEMBERS = ((HERE / "kubectl-recording", "kubectl-recording", 0o755), (ROOT / "LICENSE", "LICENSE", 0o644))
ADD_URI_AND_SHA = re.compile(r'\{\{ addURIAndSha "[^"]*" \.TagName \}\}')


def build_archive(out: Path) -> Path:
    """Write `out/kubectl-recording.tar.gz` reproducibly; returns its path."""
    out.mkdir(parents=True, exist_ok=True)
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for source, name, mode in MEMBERS:
            data = source.read_bytes()
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(data), mode, 0
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            tar.addfile(info, io.BytesIO(data))
    archive = out / "kubectl-recording.tar.gz"
    with archive.open("wb") as file, gzip.GzipFile(fileobj=file, mode="wb", mtime=0, filename="") as gz:
        gz.write(raw.getvalue())
    return archive


def render_manifest(tag: str, uri: str, sha256: str) -> str:
    """`recording.yaml` with krew-release-bot's two template actions replaced (`.TagName`, addURIAndSha)."""
    template = (HERE / "recording.yaml").read_text()
    text = ADD_URI_AND_SHA.sub(f"uri: {uri}\n      sha256: {sha256}", template)
    return text.replace("{{ .TagName }}", tag)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--tag", required=True, help="release tag, e.g. v0.1.0 (krew wants a leading v)")
    parser.add_argument("--out", type=Path, default=ROOT / "dist" / "krew")
    parser.add_argument("--uri", help="where the archive is downloaded from (default: the local file)")
    args = parser.parse_args()
    archive = build_archive(args.out.resolve())
    sha256 = hashlib.sha256(archive.read_bytes()).hexdigest()
    manifest = archive.parent / "recording.yaml"
    manifest.write_text(render_manifest(args.tag, args.uri or archive.as_uri(), sha256))
    print(f"{archive} sha256:{sha256}\n{manifest}")


if __name__ == "__main__":
    main()
