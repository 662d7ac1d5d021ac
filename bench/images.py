"""Generated images that look like real ones, written to disk once and pushed to a registry.

Every image has three layers:

- a **base** layer shared by all images: this machine's real ``/etc/os-release`` and
  ``/var/lib/dpkg/status``, the real files of a few Debian packages (libc6, coreutils, bash...)
  and many generated files (source-like text and binary-like bytes), tens of MB;
- a **deps** layer per repository: packages really installed by ``pip install --target`` and
  ``npm install --prefix`` (pinned versions, several with published advisories);
- an **app** layer per tag: generated source, random assets (so compression is realistic) and one
  pip package whose version changes from tag to tag.

Plus one image (in its own registry) with a large layer of ``large_mb`` MB, written and pushed as a
stream. Layers are gzip tar files under ``bench/.cache/layers``; the package installs are cached
under ``bench/.cache/pip`` and ``bench/.cache/npm`` and made once.
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
import tarfile
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

from .registry import BenchRegistry, file_digest
from .tarlayer import (
    LayerFile,
    add_bytes,
    add_generated,
    add_stream,
    add_tree,
    add_tree_contents,
    build_layer,
)

__all__ = ["Fixture", "build_fixture", "build_large_fixture", "push_image"]

CACHE = Path(__file__).resolve().parent / ".cache"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"

# Pinned so the figures are comparable between runs; several carry advisories in vulndata.
PIP_POOL = [
    "requests==2.25.1",
    "urllib3==1.26.4",
    "idna==2.10",
    "certifi==2020.12.5",
    "chardet==4.0.0",
    "django==3.2.4",
    "sqlparse==0.4.1",
    "jinja2==2.11.2",
    "markupsafe==2.1.3",
    "flask==1.1.2",
    "werkzeug==1.0.1",
    "click==7.1.2",
    "itsdangerous==1.1.0",
    "pyjwt==1.7.1",
    "six==1.16.0",
    "python-dateutil==2.8.1",
    "paramiko==2.7.1",
    "cryptography==3.3.2",
]
# One of these goes into each tag's app layer, so a package version changes between tags.
PIP_ROTATING = ["urllib3==1.25.8", "urllib3==1.26.5", "urllib3==1.26.18", "urllib3==2.0.7"]
NPM_POOL = [
    "express@4.17.1",
    "lodash@4.17.15",
    "axios@0.21.0",
    "minimist@1.2.0",
    "moment@2.29.1",
    "node-fetch@2.6.0",
]
# Real Debian packages whose installed files make up most of the base layer.
BASE_PACKAGES = [
    "base-files",
    "libc6",
    "coreutils",
    "bash",
    "dash",
    "libssl3",
    "zlib1g",
    "tar",
    "gzip",
    "grep",
    "sed",
    "findutils",
    "apt",
    "dpkg",
    "libcurl4",
    "curl",
    "openssl",
    "ca-certificates",
    "perl-base",
]


# --- Real package installs (cached) -------------------------------------------------------
def pip_install(spec: str) -> Path:
    """Install ``spec`` (``name==version``) alone into a cached directory; return it."""
    target = CACHE / "pip" / spec.replace("==", "-")
    if (target / ".done").exists():
        return target
    done = subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--only-binary", ":all:"]
        + ["--target", str(target), "--upgrade", spec],
        capture_output=True,
        text=True,
    )
    if done.returncode:
        raise RuntimeError(f"pip install {spec} failed:\n{done.stderr[-2000:]}")
    for extra in ("bin",):
        if (target / extra).is_dir():
            subprocess.run(["rm", "-rf", str(target / extra)], check=True)
    (target / ".done").touch()
    return target


def npm_install(spec: str) -> Path:
    """Install ``spec`` (``name@version``) with its dependencies into a cached prefix."""
    prefix = CACHE / "npm" / spec.replace("@", "-").replace("/", "_")
    if (prefix / ".done").exists():
        return prefix
    prefix.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        ["npm", "install", "--prefix", str(prefix), "--no-audit", "--no-fund"]
        + ["--no-package-lock", "--omit=dev", "--loglevel=error", spec],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    (prefix / ".done").touch()
    return prefix


def _package_files(package: str) -> list[Path]:
    for name in (package, f"{package}:amd64"):
        listing = Path("/var/lib/dpkg/info") / f"{name}.list"
        if listing.exists():
            paths = [Path(p) for p in listing.read_text().splitlines() if p and p != "/."]
            return [p for p in paths if p.is_symlink() or p.is_file()]
    return []


# --- The layers ---------------------------------------------------------------------------
def build_base_layer(base_mb: int) -> LayerFile:
    """Real OS files (os-release, dpkg status, files of BASE_PACKAGES) + generated files."""

    def fill(tar: tarfile.TarFile) -> None:
        os_release = Path("/etc/os-release").read_bytes()
        add_bytes(tar, "usr/lib/os-release", os_release)
        add_bytes(tar, "etc/os-release", os_release)
        add_bytes(tar, "var/lib/dpkg/status", Path("/var/lib/dpkg/status").read_bytes())
        budget = base_mb * 2 // 3 << 20  # two thirds real files, one third generated
        seen: set[str] = set()
        for package in BASE_PACKAGES:
            for path in _package_files(package):
                arc = str(path).lstrip("/")
                if arc in seen or arc in ("etc/os-release", "usr/lib/os-release"):
                    continue
                seen.add(arc)
                info = tar.gettarinfo(str(path), arcname=arc)
                info.uid = info.gid = 0
                info.uname = info.gname = "root"
                if info.isreg():
                    with open(path, "rb") as fh:
                        tar.addfile(info, fh)
                    budget -= info.size
                else:
                    tar.addfile(info)
            if budget <= 0:
                break
        add_generated(
            tar, "usr/share/base-gen", random.Random(1), max(budget, 0) + (base_mb << 20) // 3
        )

    return build_layer(CACHE / "layers" / f"base-{base_mb}mb.tar.gz", fill)


def build_deps_layer(repo_index: int) -> LayerFile:
    """pip and npm packages for one repository (a subset of the pools, fixed by the index)."""
    rng = random.Random(1000 + repo_index)
    pip_specs = sorted(rng.sample(PIP_POOL, k=rng.randint(4, 9)))
    npm_specs = sorted(rng.sample(NPM_POOL, k=rng.randint(1, 3)))

    def fill(tar: tarfile.TarFile) -> None:
        site = "usr/local/lib/python3.11/site-packages"
        for spec in pip_specs:
            add_tree_contents(tar, pip_install(spec), site)
        seen: set[str] = set()
        for spec in npm_specs:
            modules = npm_install(spec) / "node_modules"
            for child in sorted(modules.iterdir()):
                if child.name.startswith(".") or child.name in seen:
                    continue
                seen.add(child.name)
                add_tree(tar, child, f"app/node_modules/{child.name}")
        add_bytes(tar, "app/.repository", f"repository {repo_index}\n".encode())

    return build_layer(CACHE / "layers" / f"deps-{repo_index:03d}.tar.gz", fill)


def build_app_layer(repo_index: int, tag_index: int) -> LayerFile:
    """Generated app code, random assets and one rotating pip package version."""
    seed = repo_index * 1000 + tag_index
    rotating = PIP_ROTATING[seed % len(PIP_ROTATING)]

    def fill(tar: tarfile.TarFile) -> None:
        rng = random.Random(seed)
        add_tree_contents(tar, pip_install(rotating), "usr/local/lib/python3.11/site-packages")
        add_generated(tar, "app/code", rng, rng.randint(200 << 10, 600 << 10))
        add_bytes(tar, "app/static/assets.bin", rng.randbytes(rng.randint(300 << 10, 1 << 20)))
        add_bytes(tar, "app/VERSION", f"{repo_index}.{tag_index}\n".encode())

    return build_layer(CACHE / "layers" / f"app-{repo_index:03d}-{tag_index:03d}.tar.gz", fill)


def build_large_layer(large_mb: int) -> LayerFile:
    """A layer of ``large_mb`` MB: one file of half the size plus many 4 MB files, random."""

    def chunks(rng: random.Random, size: int):
        left = size
        while left > 0:
            n = min(left, 1 << 20)
            yield rng.randbytes(n)
            left -= n

    def fill(tar: tarfile.TarFile) -> None:
        rng = random.Random(7)
        big = (large_mb << 20) // 2
        add_stream(tar, "data/big/blob.bin", big, chunks(rng, big))
        left = (large_mb << 20) - big
        n = 0
        while left > 0:
            size = min(left, 4 << 20)
            add_stream(tar, f"data/parts/part{n:04d}.bin", size, chunks(rng, size))
            left -= size
            n += 1
        add_tree_contents(
            tar, pip_install("requests==2.25.1"), "usr/local/lib/python3.11/site-packages"
        )

    return build_layer(CACHE / "layers" / f"large-{large_mb}mb.tar.gz", fill)


# --- Images -------------------------------------------------------------------------------
def push_image(
    registry: BenchRegistry,
    repo: str,
    tags: list[str],
    layers: list[LayerFile],
    created: datetime,
    oci: bool,
) -> str:
    """Push layers, a config and a manifest under each of ``tags``; return the manifest digest."""
    config = {
        "architecture": "amd64",
        "os": "linux",
        "created": created.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "config": {
            "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
            "Cmd": ["python3", "/app/code/main.py"],
            "WorkingDir": "/app",
        },
        "rootfs": {"type": "layers", "diff_ids": [layer.diff_id for layer in layers]},
        "history": [
            {"created": config_time(created), "created_by": f"layer {i}"}
            for i in range(len(layers))
        ],
    }
    config_bytes = json.dumps(config, sort_keys=True).encode()
    config_digest = registry.push_blob_bytes(repo, config_bytes)
    for layer in layers:
        registry.push_blob_file(repo, Path(layer.path), layer.digest)
    manifest = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST if oci else DOCKER_MANIFEST,
        "config": {
            "mediaType": OCI_CONFIG if oci else DOCKER_CONFIG,
            "digest": config_digest,
            "size": len(config_bytes),
        },
        "layers": [
            {"mediaType": OCI_LAYER if oci else DOCKER_LAYER, "digest": la.digest, "size": la.size}
            for la in layers
        ],
    }
    body = json.dumps(manifest, indent=3).encode()
    digest = ""
    for tag in tags:
        digest = registry.push_manifest(repo, tag, body, manifest["mediaType"])
        registry.set_push_time(repo, tag, created.timestamp())
    return digest


def config_time(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class Fixture:
    """What is in a benchmark registry: images, and the unique layer bytes they hold."""

    root: str
    repos: int
    tags: int
    images: list[dict]
    unique_layers: int
    unique_layer_bytes: int
    build_seconds: float

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(asdict(self), indent=1))

    @classmethod
    def load(cls, path: Path) -> Fixture:
        return cls(**json.loads(path.read_text()))

    def image_ref(self, registry: BenchRegistry, index: int = 0) -> str:
        image = self.images[index]
        return f"{registry.host}/{image['repository']}:{image['tag']}"


def fixture_root(repos: int, tags: int, base_mb: int) -> Path:
    return CACHE / f"registry-{repos}x{tags}-base{base_mb}"


def repo_name(index: int) -> str:
    kinds = ["api", "web", "worker", "billing", "auth", "search", "mailer", "gateway"]
    return f"team{index % 4}/{kinds[index % len(kinds)]}-{index:02d}"


def tag_names(tags: int) -> list[str]:
    """T tags: ``1.<t>.0`` for the older ones and ``latest`` (an alias of the newest)."""
    return [f"1.{t}.0" for t in range(max(tags - 1, 1))] + (["latest"] if tags > 1 else [])


def build_fixture(repos: int, tags: int, base_mb: int, log=print) -> Fixture:
    """Fill a registry with ``repos`` x ``tags`` images (reused when already made)."""
    root = fixture_root(repos, tags, base_mb)
    state = root / "fixture.json"
    if state.exists():
        return Fixture.load(state)
    started = time.monotonic()
    log(f"building base layer ({base_mb} MB) and package installs (cached in {CACHE})")
    base = build_base_layer(base_mb)
    images: list[dict] = []
    layers: dict[str, int] = {base.digest: base.size}
    now = datetime.now(UTC).replace(microsecond=0).timestamp()
    with BenchRegistry(root) as registry:
        for r in range(repos):
            deps = build_deps_layer(r)
            layers[deps.digest] = deps.size
            names = tag_names(tags)
            versions = [n for n in names if n != "latest"]
            for t, tag in enumerate(versions):
                app = build_app_layer(r, t)
                layers[app.digest] = app.size
                created = datetime.fromtimestamp(now - 86400 * (len(versions) - t) - 60 * r, UTC)
                push_tags = [tag] + (
                    ["latest"] if t == len(versions) - 1 and "latest" in names else []
                )
                digest = push_image(
                    registry, repo_name(r), push_tags, [base, deps, app], created, oci=r % 2 == 1
                )
                for pushed in push_tags:
                    images.append(
                        {
                            "repository": repo_name(r),
                            "tag": pushed,
                            "digest": digest,
                            "layers": [base.digest, deps.digest, app.digest],
                        }
                    )
            log(f"  pushed {repo_name(r)} ({len(names)} tags)")
    fixture = Fixture(
        root=str(root),
        repos=repos,
        tags=tags,
        images=images,
        unique_layers=len(layers),
        unique_layer_bytes=sum(layers.values()),
        build_seconds=round(time.monotonic() - started, 1),
    )
    fixture.save(state)
    return fixture


def build_large_fixture(base_mb: int, large_mb: int, log=print) -> Fixture:
    """One image (``bench/large:1.0``) with the base layer and a ``large_mb`` MB layer."""
    root = CACHE / f"registry-large-{large_mb}mb-base{base_mb}"
    state = root / "fixture.json"
    if state.exists():
        return Fixture.load(state)
    started = time.monotonic()
    log(f"writing the {large_mb} MB layer (streamed to {CACHE / 'layers'})")
    base = build_base_layer(base_mb)
    large = build_large_layer(large_mb)
    with BenchRegistry(root) as registry:
        created = datetime.now(UTC).replace(microsecond=0)
        digest = push_image(registry, "bench/large", ["1.0"], [base, large], created, oci=False)
    fixture = Fixture(
        root=str(root),
        repos=1,
        tags=1,
        images=[
            {
                "repository": "bench/large",
                "tag": "1.0",
                "digest": digest,
                "large_layer_bytes": large.size,
                "large_layer_uncompressed": large.uncompressed_size,
            }
        ],
        unique_layers=2,
        unique_layer_bytes=base.size + large.size,
        build_seconds=round(time.monotonic() - started, 1),
    )
    fixture.save(state)
    return fixture


def verify_digest(path: Path, digest: str) -> bool:
    return file_digest(path) == digest
