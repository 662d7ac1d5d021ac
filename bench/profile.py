"""Where the time goes: pyinstrument over a cold ``scanimage``, an inline cold registry scan,
the unchanged inline rescan and ``rematch_all`` after an import.

Profiles are written as text (and HTML) under bench/results/profile-*; the top frames are
printed. ``python -m bench profile`` runs both.
"""

from __future__ import annotations

from .cold import pick_image, scanimage
from .context import Context, log
from .instance import VULNDATA
from .report import RESULTS
from .throughput import add_integration

__all__ = ["run_profile"]


def _pyinstrument(path) -> tuple[str, ...]:
    return ("-m", "pyinstrument", "--renderer", "text", "--outfile", str(path))


def run_profile(ctx: Context) -> dict:
    RESULTS.mkdir(exist_ok=True)
    image = pick_image(ctx)
    ref = f"{ctx.registry.host}/{image['repository']}:{image['tag']}"
    cold_txt = RESULTS / "profile-cold-scanimage.txt"
    log(f"profile: cold scanimage {ref}")
    seconds, _, _ = scanimage(
        ctx, ctx.instance("profile-cold"), ref, python_args=_pyinstrument(cold_txt)
    )
    out = {"cold_scanimage": {"seconds": round(seconds, 2), "profile": str(cold_txt)}}
    instance = ctx.instance("profile-rescan")
    add_integration(ctx, instance)
    log("profile: inline cold registry scan (runscan --wait), then the unchanged rescan")
    cold_txt2 = RESULTS / "profile-cold-runscan.txt"
    first = instance.manage(
        "runscan",
        "--registry",
        "bench",
        "--wait",
        "--json",
        check=False,
        python_args=_pyinstrument(cold_txt2),
    )
    rescan_txt = RESULTS / "profile-rescan-runscan.txt"
    again = instance.manage(
        "runscan",
        "--registry",
        "bench",
        "--wait",
        "--json",
        check=False,
        python_args=_pyinstrument(rescan_txt),
    )
    out["cold_runscan"] = {
        "seconds": round(first.seconds, 2),
        "exit": first.code,
        "profile": str(cold_txt2),
    }
    out["rescan_runscan"] = {
        "seconds": round(again.seconds, 2),
        "exit": again.code,
        "profile": str(rescan_txt),
    }
    rematch_txt = RESULTS / "profile-rematch-all.txt"
    more = sorted(str(p) for p in VULNDATA.glob("*.more.osv.jsonl"))
    instance.manage("importvulns", *more, check=False)
    code = "from scans.vulndb import api; api.rematch_all()"
    rematch = instance.manage("shell", "-c", code, python_args=_pyinstrument(rematch_txt))
    out["rematch_all"] = {"seconds": round(rematch.seconds, 2), "profile": str(rematch_txt)}
    ctx.results["profile"] = out
    ctx.add("profile", "cold scanimage (s, under pyinstrument)", out["cold_scanimage"]["seconds"])
    ctx.add("profile", "inline cold runscan (s)", out["cold_runscan"]["seconds"])
    ctx.add("profile", "inline unchanged rescan (s)", out["rescan_runscan"]["seconds"])
    ctx.add("profile", "rematch_all after an import (s)", out["rematch_all"]["seconds"])
    return out
