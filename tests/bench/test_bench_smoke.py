"""A smoke run of the benchmark harness on a tiny image (the benchmarks themselves are run on
purpose with ``python -m bench``, never by CI)."""

from __future__ import annotations

import argparse
import io
import random
import sys

import pytest
import requests

from bench import images, tarlayer
from bench.context import Context
from bench.registry import AccessLog, BenchRegistry, classify
from bench.report import print_table
from bench.rss import run_measured


def test_it_names_request_kinds():
    assert classify("GET", "/v2/_catalog?n=100") == "listing"
    assert classify("GET", "/v2/team/app/tags/list") == "listing"
    assert classify("HEAD", "/v2/team/app/manifests/1.0") == "manifest HEAD"
    assert classify("GET", "/v2/team/app/blobs/sha256:ab") == "blob GET"
    assert classify("POST", "/v2/team/app/blobs/uploads/") == "upload"


def test_the_table_marks_goals_met_and_not_met():
    ctx = Context(argparse.Namespace())
    ctx.add("3 unchanged rescan", "blob bytes", 5568, "0", False)
    ctx.add("2 registry scan", "bytes ratio", "1.00", "1.00", True)
    out = io.StringIO()
    print_table(ctx, out)
    lines = out.getvalue().splitlines()
    assert "NOT MET" in lines[2] and "5568" in lines[2]
    assert lines[3].rstrip(" |").endswith("met")


def test_it_measures_the_peak_memory_of_a_child():
    run = run_measured([sys.executable, "-c", "b = bytearray(96 << 20); print(len(b))"])
    assert run.code == 0 and run.stdout.strip() == str(96 << 20)
    assert run.peak_rss >= 96 << 20


@pytest.mark.slow
def test_the_access_log_counts_a_pull_by_kind(tmp_path):
    def fill(tar):
        tarlayer.add_bytes(tar, "etc/os-release", b'ID=debian\nVERSION_ID="12"\n')
        tarlayer.add_generated(tar, "app", random.Random(3), 200_000)

    layer = tarlayer.build_layer(tmp_path / "cache" / "app.tar.gz", fill)
    with BenchRegistry(tmp_path / "registry") as registry:
        from datetime import UTC, datetime

        digest = images.push_image(
            registry, "team/app", ["1.0"], [layer], datetime(2026, 1, 2, tzinfo=UTC), oci=True
        )
        access = AccessLog(registry.access_log)
        access.mark()
        session = requests.Session()
        session.auth = registry.session.auth
        accept = {"Accept": images.OCI_MANIFEST}
        base = f"{registry.url}/v2/team/app"
        assert session.head(f"{base}/manifests/1.0", headers=accept).status_code == 200
        manifest = session.get(f"{base}/manifests/{digest}", headers=accept).json()
        for blob in [manifest["config"], *manifest["layers"]]:
            assert session.get(f"{base}/blobs/{blob['digest']}").status_code == 200
        requests.get(f"{registry.url}/v2/")  # no credentials: a 401 challenge
        counts = access.counts()
    assert counts.by_kind == {"manifest HEAD": 1, "manifest GET": 1, "blob GET": 2}
    assert counts.unauthorized == 1
    assert counts.blob_bytes == layer.size + manifest["config"]["size"]
    assert manifest["layers"][0]["digest"] == layer.digest
