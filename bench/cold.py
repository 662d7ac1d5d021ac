"""Figure 1: a cold scan of one image, regscan (``scanimage``, catalog + match) against Syft.

Both sides are whole CLI runs pulling the same image from the same registry, alternated (each
pair swaps who goes first), each regscan run on a fresh copy of the template installation so no
layer cache helps it. The figure is the median of the per-pair ratios regscan/Syft.
"""

from __future__ import annotations

import json
import statistics
import tempfile
from collections import Counter
from pathlib import Path

from .context import Context, log
from .registry import PASSWORD, USERNAME
from .syft import run_syft

__all__ = ["run_cold", "scanimage"]

GOAL_RATIO = 0.7


def scanimage(ctx: Context, instance, ref: str, python_args=()) -> tuple[float, int, list]:
    """Run ``manage.py scanimage`` on ``ref``; return (seconds, peak RSS bytes, JSON output)."""
    with tempfile.TemporaryDirectory(prefix="bench-scan-") as tmp:
        out = Path(tmp) / "scan.json"
        run = instance.manage(
            "scanimage",
            ref,
            "--username",
            USERNAME,
            "--password-stdin",
            "--insecure-registry",
            "--format",
            "json",
            "--output",
            str(out),
            stdin=PASSWORD,
            check=False,
            python_args=python_args,
        )
        if run.code not in (0, 1) or not out.exists():
            raise RuntimeError(f"scanimage exited {run.code}: {run.stderr[-3000:]}")
        return run.seconds, run.peak_rss, json.loads(out.read_text())


def packages_by_type(document: list) -> dict[str, int]:
    counts: Counter = Counter()
    for platform in document:
        counts.update(p.get("ecosystem", "?") for p in platform.get("packages", []))
    return dict(sorted(counts.items()))


def findings_of(document: list) -> int:
    return sum(len(p.get("findings", [])) for p in document)


def pick_image(ctx: Context) -> dict:
    """The image with the most packages in its deps layer among the first repositories."""
    images = [i for i in ctx.fixture.images if i["tag"] != "latest"]
    return images[0]


def run_cold(ctx: Context) -> dict:
    image = pick_image(ctx)
    registry = ctx.registry
    ref = f"{registry.host}/{image['repository']}:{image['tag']}"
    log(f"cold: {ref}, {ctx.args.runs} alternating runs of regscan scanimage and syft")
    pairs = []
    regscan_doc: list = []
    syft_result = None
    access = ctx.access_log
    requests_regscan = requests_syft = None
    for i in range(ctx.args.runs):
        instance = ctx.instance("cold")

        def one_regscan(instance=instance):
            access.mark()
            seconds, peak, doc = scanimage(ctx, instance, ref)
            return seconds, peak, doc, access.counts().as_dict()

        def one_syft():
            access.mark()
            return run_syft(registry, ref), access.counts().as_dict()

        if i % 2 == 0:
            r_seconds, r_peak, regscan_doc, requests_regscan = one_regscan()
            syft_result, requests_syft = one_syft()
        else:
            syft_result, requests_syft = one_syft()
            r_seconds, r_peak, regscan_doc, requests_regscan = one_regscan()
        pairs.append(
            {
                "regscan_s": round(r_seconds, 3),
                "syft_s": round(syft_result.seconds, 3),
                "ratio": round(r_seconds / syft_result.seconds, 3),
                "regscan_peak_rss_mb": round(r_peak / 2**20),
                "syft_peak_rss_mb": round(syft_result.peak_rss / 2**20),
            }
        )
        log(f"cold: run {i + 1}: regscan {r_seconds:.2f}s, syft {syft_result.seconds:.2f}s")
    ratio = statistics.median(p["ratio"] for p in pairs)
    # Start-up = Django set-up plus importing the command and the engine, without scanning.
    startup = ctx.instance("cold").manage("help", "scanimage", check=False).seconds
    result = {
        "image": ref,
        "pairs": pairs,
        "median_ratio": round(ratio, 3),
        "regscan_median_s": round(statistics.median(p["regscan_s"] for p in pairs), 3),
        "syft_median_s": round(statistics.median(p["syft_s"] for p in pairs), 3),
        "regscan_django_startup_s": round(startup, 3),
        "regscan_packages_by_type": packages_by_type(regscan_doc),
        "regscan_packages": sum(packages_by_type(regscan_doc).values()),
        "regscan_findings": findings_of(regscan_doc),
        "syft_packages_by_type": syft_result.by_type if syft_result else {},
        "syft_packages": syft_result.packages if syft_result else 0,
        "regscan_registry_requests": requests_regscan,
        "syft_registry_requests": requests_syft,
    }
    ctx.results["cold"] = result
    ctx.add("1 cold scan", "regscan median (s)", result["regscan_median_s"])
    ctx.add("1 cold scan", "syft median (s)", result["syft_median_s"])
    ctx.add(
        "1 cold scan",
        "regscan/syft (median of pair ratios)",
        result["median_ratio"],
        f"<= {GOAL_RATIO}",
        ratio <= GOAL_RATIO,
    )
    ctx.add("1 cold scan", "of which regscan start-up (s)", result["regscan_django_startup_s"])
    ctx.add("1 cold scan", "regscan packages by type", _short(result["regscan_packages_by_type"]))
    ctx.add("1 cold scan", "syft packages by type", _short(result["syft_packages_by_type"]))
    ctx.add("1 cold scan", "regscan findings", result["regscan_findings"])
    for side, counts in (("regscan", requests_regscan), ("syft", requests_syft)):
        kinds = ", ".join(f"{k} {v}" for k, v in counts["requests"].items())
        ctx.add(
            "1 cold scan",
            f"{side} registry requests (401s)",
            f"{kinds} ({counts['unauthorized_challenges']})",
        )
    ctx.add(
        "1 cold scan",
        "peak RSS regscan / syft (MB)",
        f"{pairs[-1]['regscan_peak_rss_mb']} / {pairs[-1]['syft_peak_rss_mb']}",
    )
    return result


def _short(counts: dict[str, int]) -> str:
    return " ".join(f"{k}:{v}" for k, v in counts.items()) or "-"
