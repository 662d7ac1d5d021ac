"""Figure 4b: vulnerability import throughput on the shared vulndata repeated to N records.

Every OSV record of ../shared/vulndata (both slices) is copied with a suffixed id (and suffixed
aliases, so the copies do not merge into one alias group) until there are N records, written
once as JSON lines under bench/.cache. A fresh installation then imports the file with
``scans.vulndb.api.import_sources`` inside one ``manage.py shell`` (start-up excluded).
"""

from __future__ import annotations

import json
from pathlib import Path

from .context import Context, log
from .images import CACHE
from .instance import VULNDATA, Instance

__all__ = ["repeated_vulndata", "run_import"]


def repeated_vulndata(records: int) -> Path:
    """Return a JSON-lines file of ``records`` OSV records (made once, then reused)."""
    path = CACHE / f"vulndata-{records}.osv.jsonl"
    if path.exists():
        return path
    source = []
    for file in sorted(VULNDATA.glob("*.osv.jsonl")):
        source.extend(line for line in file.read_text().splitlines() if line.strip())
    tmp = path.with_suffix(".tmp")
    with open(tmp, "w") as fh:
        written = copy = 0
        while written < records:
            for line in source:
                if written >= records:
                    break
                rec = json.loads(line)
                rec["id"] = f"{rec['id']}-BENCH{copy}"
                rec["aliases"] = [f"{a}-BENCH{copy}" for a in rec.get("aliases", [])]
                fh.write(json.dumps(rec) + "\n")
                written += 1
            copy += 1
    tmp.rename(path)
    return path


def run_import(ctx: Context) -> dict:
    records = ctx.args.import_records
    path = repeated_vulndata(records)
    instance = Instance(CACHE / "runs" / "import").create(vulndata=False)
    log(f"import: {records} OSV records from {path}")
    code = (
        "import json, time\n"
        "from scans.vulndb import api\n"
        f"t = time.perf_counter(); r = api.import_sources([{str(path)!r}])\n"
        "s = time.perf_counter() - t\n"
        "print(json.dumps({'seconds': s, 'report': repr(r)[:500]}))\n"
    )
    run = instance.manage("shell", "-c", code)
    timed = json.loads(run.stdout.strip().splitlines()[-1])
    stored = instance.query("SELECT COUNT(*) FROM vulndb_vulnerability")[0][0]
    result = {
        "records": records,
        "stored": stored,
        "seconds": round(timed["seconds"], 2),
        "records_per_second": round(records / timed["seconds"]),
        "peak_rss_mb": round(run.peak_rss / 2**20),
        "report": timed["report"],
    }
    ctx.results["import"] = result
    ctx.add("4 import", f"records/s importing {records} OSV records", result["records_per_second"])
    ctx.add("4 import", "records stored / peak RSS (MB)", f"{stored} / {result['peak_rss_mb']}")
    return result
