"""The table printed at the end of a run and the JSON written under bench/results/."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

from .context import Context
from .instance import REPO_ROOT

__all__ = ["print_table", "write_json"]

RESULTS = Path(__file__).resolve().parent / "results"


def _mark(met: bool | None) -> str:
    return "" if met is None else ("met" if met else "NOT MET")


def print_table(ctx: Context, out=sys.stdout) -> None:
    """Print a Markdown table (figure, metric, value, goal, met); the README takes it as is."""
    rows = [("figure", "metric", "value", "goal", "")]
    rows += [
        (r["figure"], r["metric"], " ".join(str(r["value"]).split()), r["goal"], _mark(r["met"]))
        for r in ctx.rows
    ]
    widths = [max(len(r[i]) for r in rows) for i in range(5)]
    for n, row in enumerate(rows):
        print(
            "| " + " | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) + " |", file=out
        )
        if n == 0:
            print("|" + "|".join("-" * (w + 2) for w in widths) + "|", file=out)


def environment(ctx: Context) -> dict:
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=REPO_ROOT, capture_output=True, text=True
        ).stdout.strip()
    except OSError:
        commit = ""
    return {
        "argv": sys.argv,
        "options": {k: v for k, v in vars(ctx.args).items() if k != "func"},
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "machine": platform.machine(),
        "git_commit": commit,
        "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


def write_json(ctx: Context, command: str) -> Path:
    """Write results to bench/results/<command>-<time>.json and latest-<command>.json."""
    RESULTS.mkdir(exist_ok=True)
    doc = {"environment": environment(ctx), "table": ctx.rows, "figures": ctx.results}
    if ctx._fixture is not None:
        f = ctx._fixture
        doc["fixture"] = {
            "repos": f.repos,
            "tags": f.tags,
            "images": len(f.images),
            "unique_layers": f.unique_layers,
            "unique_layer_bytes": f.unique_layer_bytes,
        }
    text = json.dumps(doc, indent=2, default=str)
    path = RESULTS / f"{command}-{time.strftime('%Y%m%dT%H%M%S')}.json"
    path.write_text(text)
    (RESULTS / f"latest-{command}.json").write_text(text)
    return path
