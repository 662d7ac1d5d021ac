"""Peak memory of the scan engine while streaming one large generated layer.

``python -m bench.layer_memory [--sizes 50,500] [--compression gzip|zstd|none] [--via-registry]``

For each size, a layer of that many MB of pseudo-random 1 MB files followed by a real dpkg
status file (this machine's, else a small one) is written to a temporary file as a stream
(never held in memory). A fresh subprocess then streams it through
``scans.engine.pipeline.analyze_layer`` and reports its peak RSS (``resource.getrusage``
``ru_maxrss``) next to the peak of a subprocess that only imports the engine. Flat figures
across sizes mean the engine holds no more than one claimed file at a time.

``--via-registry`` pushes the layer to a real local ``docker-registry`` (the test suite's
LocalRegistry) and streams it through ``DistributionClient.open_blob`` (digest verified while
streaming) into the engine: the whole pull path except the ORM.
"""

from __future__ import annotations

import argparse
import gzip
import io
import json
import os
import random
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

import zstandard

ROOT = Path(__file__).resolve().parent.parent
FALLBACK_STATUS = b"Package: a\nStatus: install ok installed\nVersion: 1.0\n\n"

CHILD = r"""
import json, resource, sys, time
sys.path.insert(0, sys.argv[1])
from scans.engine.pipeline import analyze_layer, build_inventory
from scans.engine.types import Limits
path = sys.argv[2]
started = time.perf_counter()
packages = 0
if path.startswith("registry:"):
    from integrations.crypto import Secret
    from integrations.providers.base import PullAuth
    from integrations.providers.distribution import DistributionClient
    _, url, repo, digest, user = path.split(" ")
    auth = PullAuth(base_url=url, username=user, password=Secret(sys.stdin.readline().strip()))
    with DistributionClient(auth).open_blob(repo, digest) as stream:
        result = analyze_layer(digest, stream, limits=Limits())
    packages = len(build_inventory([result]).packages)
elif path != "-":
    with open(path, "rb") as stream:
        result = analyze_layer("sha256:bench", stream, limits=Limits())
    packages = len(build_inventory([result]).packages)
print(json.dumps({
    "peak_rss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
    "seconds": round(time.perf_counter() - started, 2),
    "packages": packages,
}))
"""


def _opener(path: Path, compression: str):
    if compression == "gzip":
        return gzip.open(path, "wb", compresslevel=1)
    if compression == "zstd":
        return zstandard.ZstdCompressor(level=1).stream_writer(open(path, "wb"))
    return open(path, "wb")


def write_layer(path: Path, megabytes: int, compression: str) -> None:
    """Stream a tar of ``megabytes`` MB of 1 MB files plus a dpkg status into ``path``."""
    status_file = Path("/var/lib/dpkg/status")
    status = status_file.read_bytes() if status_file.exists() else FALLBACK_STATUS
    rng = random.Random(1)
    with _opener(path, compression) as out, tarfile.open(fileobj=out, mode="w|") as tar:
        for i in range(megabytes):
            data = rng.randbytes(1 << 20)
            info = tarfile.TarInfo(f"data/{i // 100:04d}/blob-{i:06d}.bin")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        info = tarfile.TarInfo("var/lib/dpkg/status")
        info.size = len(status)
        tar.addfile(info, io.BytesIO(status))


def measure(path: str, stdin: str = "") -> dict:
    """Run the child on ``path`` ("-" = import only; "registry: URL REPO DIGEST USER" = pull,
    with the password on stdin) and return its JSON report."""
    done = subprocess.run(
        [sys.executable, "-c", CHILD, str(ROOT), path],
        input=stdin,
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    return json.loads(done.stdout)


def measure_via_registry(registry, path: Path) -> dict:
    digest = registry.push_blob_file("bench/layer", path)
    spec = f"registry: {registry.url} bench/layer {digest} {registry.username}"
    return measure(spec, stdin=registry.password + "\n")


def _start_registry(directory: Path):
    sys.path.insert(0, str(ROOT))
    from tests.support.registry import LocalRegistry

    return LocalRegistry(directory / "registry")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="50,500", help="layer sizes in MB, comma-separated")
    parser.add_argument("--compression", default="gzip", choices=("gzip", "zstd", "none"))
    parser.add_argument("--via-registry", action="store_true", help="pull through a registry")
    args = parser.parse_args(argv)
    baseline = measure("-")
    rows = [("import only", 0, baseline["peak_rss_kb"], 0.0, 0)]
    with tempfile.TemporaryDirectory(prefix="layer-memory-") as tmp:
        registry = _start_registry(Path(tmp)) if args.via_registry else None
        for size in (int(s) for s in args.sizes.split(",")):
            path = Path(tmp) / f"layer-{size}.tar"
            started = time.perf_counter()
            write_layer(path, size, args.compression)
            print(
                f"wrote {size} MB layer in {time.perf_counter() - started:.1f} s", file=sys.stderr
            )
            if registry is not None:
                report = measure_via_registry(registry, path)
            else:
                report = measure(str(path))
            rows.append(
                (
                    f"{size} MB {args.compression}" + (" via registry" if registry else ""),
                    path.stat().st_size,
                    report["peak_rss_kb"],
                    report["seconds"],
                    report["packages"],
                )
            )
            path.unlink()
        if registry is not None:
            registry.stop()
    print("| layer | blob bytes | peak RSS (MB) | seconds | packages |")
    print("|---|---|---|---|---|")
    for name, blob, rss, seconds, packages in rows:
        print(f"| {name} | {blob} | {rss / 1024:.1f} | {seconds} | {packages} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
