"""Figure 6 from the benchmark's side: runs :mod:`bench.pages` in a fresh installation."""

from __future__ import annotations

import json
import sys

from .context import Context, log
from .images import CACHE
from .instance import REPO_ROOT, Instance
from .rss import run_measured

__all__ = ["run_pages"]

GOAL_GROWTH = 2.0


def run_pages(ctx: Context) -> dict:
    a = ctx.args
    root = CACHE / "runs" / "pages"
    instance = Instance(root, extra_env={"ALLOWED_HOSTS": "testserver,127.0.0.1,localhost"})
    import shutil

    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    log(f"pages: {a.integrations} integrations, {a.findings} findings (bulk rows, test client)")
    argv = [sys.executable, "-m", "bench.pages", "--integrations", *map(str, a.integrations)]
    argv += ["--findings", *map(str, a.findings)]
    run = run_measured(argv, env=instance.env(), cwd=str(REPO_ROOT))
    if run.code != 0:
        raise RuntimeError(f"bench.pages exited {run.code}: {run.stderr[-3000:]}")
    result = json.loads(run.stdout)
    ctx.results["pages"] = result
    for page in result["integrations"]:
        ctx.add(
            "6 pages",
            f"My Integrations, {page['rows']} integrations (ms / queries)",
            f"{page['median_ms']} / {page['queries']}",
        )
    for page in result["findings"]:
        ctx.add(
            "6 pages",
            f"Findings, {page['rows']} findings (ms / queries)",
            f"{page['median_ms']} / {page['queries']}",
        )
    f = result["findings"]
    if len(f) >= 2:
        growth = f[-1]["median_ms"] / f[0]["median_ms"]
        result["findings_growth"] = round(growth, 2)
        ctx.add(
            "6 pages",
            f"Findings time at {f[-1]['rows']} / at {f[0]['rows']}",
            f"{growth:.2f}",
            f"<= {GOAL_GROWTH}",
            growth <= GOAL_GROWTH,
        )
    return result
