"""Hostile layers fail the image with a ScanError that says what is wrong; nothing is written
anywhere (the engine never extracts)."""

from __future__ import annotations

import gzip
import io
import tarfile
from contextlib import contextmanager

import pytest

from scans.engine.pipeline import analyze_layer, scan_layers
from scans.engine.types import Limits, ScanError
from tests.support.layers import member, raw_tar
from tests.support.oci_images import compress, make_layer

STATUS = b"Package: a\nStatus: install ok installed\nVersion: 1\n\n"


def analyze(blob: bytes, **limits):
    return analyze_layer("sha256:bad", io.BytesIO(blob), limits=Limits(**limits))


def test_dot_dot_paths_are_refused():
    with pytest.raises(ScanError, match=r"'\.\.'"):
        analyze(raw_tar([(member("usr/../../etc/passwd"), b"x")]))


def test_absolute_paths_are_refused():
    with pytest.raises(ScanError, match="absolute path '/etc/passwd'"):
        analyze(raw_tar([(member("/etc/passwd"), b"x")]))


def test_a_symlink_escaping_the_root_is_refused():
    link = member("usr/lib/escape", tarfile.SYMTYPE, "../../../etc/shadow")
    with pytest.raises(ScanError, match="symlink 'usr/lib/escape'.*outside the root"):
        analyze(raw_tar([(link, None)]))


def test_absolute_symlinks_stay_inside_the_image_and_are_fine():
    link = member("etc/os-release", tarfile.SYMTYPE, "/usr/lib/os-release")
    analyze(raw_tar([(link, None), (member("usr/lib/os-release"), b"ID=debian\n")]))


def test_a_symlink_loop_is_refused():
    a = member("a", tarfile.SYMTYPE, "b")
    b = member("b", tarfile.SYMTYPE, "a")
    with pytest.raises(ScanError, match="symlink loop"):
        analyze(raw_tar([(a, None), (b, None)]))


def test_a_hard_link_escaping_the_root_is_refused():
    link = member("var/lib/dpkg/status", tarfile.LNKTYPE, "../../etc/shadow")
    with pytest.raises(ScanError, match="'\\.\\.'"):
        analyze(raw_tar([(link, None)]))


def test_an_absolute_hard_link_is_refused():
    link = member("x", tarfile.LNKTYPE, "/etc/shadow")
    with pytest.raises(ScanError, match="absolute path '/etc/shadow'"):
        analyze(raw_tar([(link, None)]))


def test_a_device_where_a_package_database_belongs_is_refused():
    device = member("var/lib/dpkg/status", tarfile.CHRTYPE)
    device.devmajor, device.devminor = 1, 5  # /dev/zero
    with pytest.raises(ScanError, match="device or fifo at 'var/lib/dpkg/status'"):
        analyze(raw_tar([(device, None)]))


def test_devices_elsewhere_are_skipped_without_being_opened():
    device = member("dev/zero", tarfile.CHRTYPE)
    fifo = member("run/pipe", tarfile.FIFOTYPE)
    result = analyze(
        raw_tar([(device, None), (fifo, None), (member("var/lib/dpkg/status"), STATUS)])
    )
    assert list(result.files) == ["var/lib/dpkg/status"]


def test_a_decompression_bomb_is_refused_per_layer():
    bomb = gzip.compress(make_layer({"zeros": b"\0" * 5_000_000}))
    assert len(bomb) < 20_000
    with pytest.raises(ScanError, match="decompression bomb"):
        analyze(bomb, max_layer_bytes=1_000_000)


def opener(blob: bytes):
    @contextmanager
    def open_blob():
        yield io.BytesIO(blob)

    return open_blob


def test_the_image_cap_counts_all_layers_together():
    layer = compress(make_layer({"zeros": b"\0" * 600_000}), "gzip")
    limits = Limits(max_layer_bytes=1_000_000, max_image_bytes=1_000_000)
    with pytest.raises(ScanError, match="image's layers unpack to more than"):
        scan_layers([("sha256:1", opener(layer)), ("sha256:2", opener(layer))], limits=limits)


def test_a_huge_number_of_entries_is_refused():
    blob = compress(make_layer({f"f{i}": b"" for i in range(300)}), "gzip")
    with pytest.raises(ScanError, match="more than 200 entries"):
        analyze(blob, max_entries=200)


def test_an_oversized_package_database_is_refused():
    blob = make_layer({"var/lib/dpkg/status": STATUS * 1000})
    with pytest.raises(ScanError, match="'var/lib/dpkg/status' is .* over the .* cap"):
        analyze(blob, max_file_bytes=10_000)


def test_invalid_utf8_in_a_file_name_is_refused():
    name = b"usr/share/caf\xe9".decode("utf-8", "surrogateescape")
    with pytest.raises(ScanError, match="not valid UTF-8"):
        analyze(raw_tar([(member(name), b"x")]))


def test_invalid_utf8_in_a_package_field_is_refused():
    bad = b"Package: caf\xe9\nStatus: install ok installed\nVersion: 1\n\n"
    with pytest.raises(
        ScanError, match="'var/lib/dpkg/status' has a package field that is not valid UTF-8"
    ):
        analyze(make_layer({"var/lib/dpkg/status": bad}))


def test_a_huge_pax_header_is_refused():
    info = tarfile.TarInfo("x")
    info.pax_headers = {"comment": "y" * 5000}
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        tar.addfile(info, io.BytesIO(b""))
    with pytest.raises(ScanError, match="tar header"):
        analyze(buf.getvalue(), max_header_bytes=1000)


def test_garbage_is_not_a_tar():
    with pytest.raises(ScanError, match="not a valid"):
        analyze(gzip.compress(b"this is not a tar archive" * 40))


def test_a_truncated_gzip_is_refused():
    blob = compress(make_layer({"var/lib/dpkg/status": STATUS * 50}), "gzip")
    with pytest.raises(ScanError, match="not a valid"):
        analyze(blob[: len(blob) // 2])
