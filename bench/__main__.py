"""``python -m bench [setup|cold|registry|rescan|rematch|import|memory|pages|profile|all]``.

Each command builds (or reuses) the benchmark registry under bench/.cache, measures its
figures, prints a Markdown table on stdout and writes JSON under bench/results/. Progress goes
to stderr. ``--repos 4 --tags 3`` makes a quick run.
"""

from __future__ import annotations

import argparse
import os
import sys
import traceback

from .cold import run_cold
from .context import Context, log
from .imports import run_import
from .memory import run_memory
from .pagetimes import run_pages
from .profile import run_profile
from .report import print_table, write_json
from .throughput import run_registry, run_rematch

__all__ = ["main"]


def run_setup(ctx: Context) -> None:
    f = ctx.fixture
    ctx.add("set-up", "tags (repositories x tags)", f"{len(f.images)} ({f.repos} x {f.tags})")
    ctx.add("set-up", "unique layers / MB", f"{f.unique_layers} / {f.unique_layer_bytes / 1e6:.1f}")
    if ctx.args.large:
        large, _ = ctx.large()
        ctx.add("set-up", "large layer (MB)", round(large.images[0]["large_layer_bytes"] / 2**20))


def run_rescan_only(ctx: Context) -> None:
    ctx.args.workers = ctx.args.workers[:1]
    run_registry(ctx)


def run_rematch_and_import(ctx: Context) -> None:
    if "registry" not in ctx.results:
        run_rescan_only(ctx)
    run_rematch(ctx)
    run_import(ctx)


COMMANDS = {
    "setup": [run_setup],
    "cold": [run_cold],
    "registry": [run_registry],
    "rescan": [run_rescan_only],
    "rematch": [run_rematch_and_import],
    "import": [run_import],
    "memory": [run_memory],
    "pages": [run_pages],
    "profile": [run_profile],
    "all": [run_setup, run_cold, run_registry, run_rematch, run_import, run_memory, run_pages],
}


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    p.add_argument("command", nargs="?", default="all", choices=list(COMMANDS))
    p.add_argument("--repos", type=int, default=20, help="repositories (default 20)")
    p.add_argument("--tags", type=int, default=12, help="tags per repository (default 12)")
    p.add_argument("--base-mb", type=int, default=60, help="base layer size, uncompressed MB")
    p.add_argument("--large-mb", type=int, default=600, help="large layer size (MB)")
    p.add_argument("--large", action="store_true", help="setup: build the large image too")
    p.add_argument("--runs", type=int, default=5, help="cold scan pairs (default 5)")
    p.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    p.add_argument("--integrations", type=int, nargs="+", default=[10, 1000])
    p.add_argument("--findings", type=int, nargs="+", default=[1000, 100_000])
    p.add_argument("--import-records", type=int, default=100_000)
    p.add_argument("--no-syft-large", action="store_true", help="memory: skip Syft")
    p.add_argument("--keep-going", action="store_true", help="all: go on after a failed figure")
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if args.command == "all":
        args.keep_going = True
    ctx = Context(args)
    failed = []
    loads = ctx.results.setdefault("load_average_1min", {})
    try:
        for step in COMMANDS[args.command]:
            before = os.getloadavg()[0]
            try:
                step(ctx)
            except Exception as exc:
                failed.append(step.__name__)
                ctx.add(step.__name__, "FAILED", f"{type(exc).__name__}: {str(exc)[:150]}")
                ctx.results.setdefault("errors", {})[step.__name__] = traceback.format_exc()
                log(f"{step.__name__} failed:\n{traceback.format_exc()}")
                if not args.keep_going:
                    break
            finally:
                loads[step.__name__] = [round(before, 1), round(os.getloadavg()[0], 1)]
    finally:
        ctx.close()
    # Other work on the machine slows every figure; the table says how busy it was.
    seen = [v for values in loads.values() for v in values]
    if seen:
        cpus = os.cpu_count()
        ctx.add("machine", f"load average (1 min) seen, {cpus} CPUs", f"{min(seen)}-{max(seen)}")
    print_table(ctx)
    path = write_json(ctx, args.command)
    log(f"results written to {path}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
