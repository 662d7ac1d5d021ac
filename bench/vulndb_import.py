"""Vulnerability import and re-match throughput (issue 5).

    .venv/bin/python bench/vulndb_import.py [--records 100000] [--sboms 300]

Copies every OSV record of /work/shared/vulndata (both slices) with suffixed ids and aliases
until there are ``--records`` records, then, in a throwaway SQLite database built from the
models:

1. imports them once (``import_sources``, no re-match): records/s;
2. imports the same file again (every record skipped by ``modified``/content hash): records/s;
3. replaces the copies by the real vulndata (and KEV), stores ``--sboms`` SBOMs (Debian 11
   or Alpine 3.11 packages, PyPI and npm packages, 60 packages without advisories; one image
   each) and times ``rematch_all()`` twice (first: every finding opens; second: unchanged),
   then ``rematch_all(changed_keys)`` for the keys of one changed record (what an
   incremental import does).

Prints one JSON document on stdout; progress on stderr.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VULNDATA = Path(os.environ.get("REGSCAN_BENCH_VULNDATA", "/work/shared/vulndata"))


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def repeated(records: int, out: Path) -> Path:
    lines = []
    for file in sorted(VULNDATA.glob("*.osv.jsonl")):
        lines.extend(line for line in file.read_text().splitlines() if line.strip())
    written = copy = 0
    with open(out, "w") as fh:
        while written < records:
            for line in lines[: records - written]:
                rec = json.loads(line)
                rec["id"] = f"{rec['id']}-B{copy}"
                rec["aliases"] = [f"{a}-B{copy}" for a in rec.get("aliases", [])]
                fh.write(json.dumps(rec) + "\n")
                written += 1
            copy += 1
    return out


def setup_django(workdir: Path) -> str:
    """Point Django at a fresh database built from the models; returns the original name."""
    os.environ["DJANGO_SETTINGS_MODULE"] = "regscan_site.test_settings"
    os.environ["REGSCAN_DATA_DIR"] = str(workdir)
    sys.path.insert(0, str(ROOT))
    import django
    from django.conf import settings

    django.setup()
    from django.db import connection

    # SQLite by default; DATABASE_URL=postgres://... measures PostgreSQL (own test database).
    sqlite = settings.DATABASES["default"]["ENGINE"].endswith("sqlite3")
    name = str(workdir / "bench.sqlite3") if sqlite else "test_regscan_vulndb_bench"
    settings.DATABASES["default"]["TEST"].update({"NAME": name, "MIGRATE": False})
    old_name = settings.DATABASES["default"]["NAME"]
    connection.creation.create_test_db(verbosity=0, autoclobber=True)
    return old_name


def make_sboms(count: int) -> None:
    from accounts.services import get_or_create_org
    from integrations.models import Registry
    from scans.models import Image, Package, Sbom

    org = get_or_create_org("bench")
    registry = Registry.objects.create(organization=org, name="bench", provider="oci")
    kinds = [
        (
            "debian",
            "11",
            [
                ("libssl1.1", "1.1.1n-0+deb11u3", "deb", "openssl"),
                ("libc6", "2.31-13+deb11u5", "deb", "glibc"),
                ("zlib1g", "1:1.2.11.dfsg-2", "deb", "zlib"),
                ("curl", "7.74.0-1.3+deb11u3", "deb", "curl"),
            ],
        ),
        (
            "alpine",
            "3.11.6",
            [
                ("libcrypto1.1", "1.1.1d-r2", "apk", "openssl"),
                ("busybox", "1.31.1-r9", "apk", "busybox"),
                ("musl", "1.1.24-r2", "apk", "musl"),
            ],
        ),
    ]
    lang = [
        ("django", "3.2.0", "pypi", ""),
        ("pillow", "8.0.0", "pypi", ""),
        ("lodash", "4.17.15", "npm", ""),
        ("axios", "0.21.0", "npm", ""),
    ]
    for i in range(count):
        os_id, version, pkgs = kinds[i % 2]
        sbom = Sbom.objects.create(digest=f"sha256:{i:064x}", os_id=os_id, os_version=version)
        rows = pkgs + lang
        # Filler packages with no advisories: real images carry hundreds of these.
        rows += [(f"lib{os_id}-filler{j}", "1.0-1", pkgs[0][2], f"filler{j}") for j in range(60)]
        Package.objects.bulk_create(
            Package(
                sbom=sbom, name=n, version=v, ecosystem=e, source_name=s, purl=f"pkg:{e}/{n}@{v}"
            )
            for n, v, e, s in rows
        )
        Image.objects.create(registry=registry, digest=sbom.digest, sbom=sbom)


CPU: dict[str, float] = {}


def timed(fn, name: str):
    """Run ``fn``; return (value, wall seconds) and keep its CPU seconds in CPU[name] (this
    machine is shared: wall time includes waiting for the CPU)."""
    start, cpu = time.perf_counter(), time.process_time()
    value = fn()
    CPU[name] = round(time.process_time() - cpu, 2)
    return value, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--sboms", type=int, default=300)
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="regscan-bench-vulndb-"))
    old_name = setup_django(workdir)
    from django.db import connection

    from scans.vulndb.api import import_sources, rematch_all
    from scans.vulndb.models import Finding, Vulnerability

    path = repeated(args.records, workdir / "records.osv.jsonl")
    log(f"importing {args.records} records from {path}")
    first, t_first = timed(lambda: import_sources([str(path)], rematch=False), "import")
    log("re-importing (all unchanged)")
    again, t_again = timed(lambda: import_sources([str(path)], rematch=False), "reimport")
    stored = Vulnerability.objects.count()
    # Re-matching runs on the real data set: the suffixed copies would make every SBOM carry
    # each advisory dozens of times.
    Vulnerability.objects.all().delete()
    real = sorted(str(p) for p in VULNDATA.glob("*.osv.jsonl")) + [str(VULNDATA / "cisa_kev.json")]
    import_sources(real, rematch=False)
    log(f"storing {args.sboms} SBOMs")
    make_sboms(args.sboms)
    full, t_full = timed(rematch_all, "rematch_all")
    again_full, t_again_full = timed(rematch_all, "rematch_all_unchanged")
    keys = {("npm", "lodash")}
    part, t_part = timed(lambda: rematch_all(keys), "rematch_changed_keys")
    # A key only the Debian half of the SBOMs carries (binary libssl1.1, source openssl).
    deb_keys = {("Debian:11", "openssl")}
    deb, t_deb = timed(lambda: rematch_all(deb_keys), "rematch_changed_debian_key")
    result = {
        "records": args.records,
        "stored": stored,
        "import_seconds": round(t_first, 2),
        "import_records_per_second": round(args.records / t_first),
        "created": first.sources[0].created,
        "reimport_seconds": round(t_again, 2),
        "reimport_records_per_second": round(args.records / t_again),
        "reimport_skipped": again.sources[0].skipped,
        "sboms": args.sboms,
        "findings": Finding.objects.count(),
        "rematch_all_seconds": round(t_full, 2),
        "rematch_all_opened": full.opened,
        "rematch_all_again_seconds": round(t_again_full, 2),
        "rematch_all_again_unchanged": again_full.unchanged,
        "rematch_changed_keys_seconds": round(t_part, 3),
        "rematch_changed_keys_sboms": part.sboms,
        "rematch_debian_openssl_seconds": round(t_deb, 3),
        "rematch_debian_openssl_sboms": deb.sboms,
        "cpu_seconds": CPU,
        "import_records_per_cpu_second": round(args.records / max(CPU["import"], 0.01)),
        "load_average": os.getloadavg()[0],
        "database": connection.vendor,
    }
    print(json.dumps(result, indent=2))
    connection.creation.destroy_test_db(old_name, verbosity=0)
    log(
        f"{result['import_records_per_second']} records/s import, "
        f"{result['reimport_records_per_second']} records/s re-import; rematch_all "
        f"{t_full:.2f}s over {args.sboms} SBOMs, changed-keys rematch {t_part:.3f}s"
    )


if __name__ == "__main__":
    main()
