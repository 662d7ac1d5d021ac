"""Figure 5: peak RSS of a regscan process scanning the large-layer image, against the layer size
and against the same process scanning a small image (flat memory means the two are close).

The process is ``manage.py scanimage``: the same engine code a worker runs per image, measured
with the kernel's high-water mark (``wait4``). Syft scans the same image for comparison.
"""

from __future__ import annotations

from .cold import scanimage
from .context import Context, log
from .syft import run_syft

__all__ = ["run_memory"]

# "Flat": scanning a layer hundreds of MB larger may cost at most this much more memory.
GOAL_DELTA_MB = 64


def run_memory(ctx: Context) -> dict:
    large_fixture, large_registry = ctx.large()
    image = large_fixture.images[0]
    large_ref = f"{large_registry.host}/{image['repository']}:{image['tag']}"
    small = next(i for i in ctx.fixture.images if i["tag"] != "latest")
    small_ref = f"{ctx.registry.host}/{small['repository']}:{small['tag']}"
    layer_mb = image["large_layer_bytes"] / 2**20
    log(f"memory: scanimage of {large_ref} (layer {layer_mb:.0f} MB) and of {small_ref}")
    _, small_peak, _ = scanimage(ctx, ctx.instance("memory-small"), small_ref)
    large_s, large_peak, doc = scanimage(ctx, ctx.instance("memory-large"), large_ref)
    result = {
        "image": large_ref,
        "large_layer_mb": round(layer_mb),
        "large_layer_uncompressed_mb": round(image["large_layer_uncompressed"] / 2**20),
        "regscan_peak_rss_small_mb": round(small_peak / 2**20),
        "regscan_peak_rss_large_mb": round(large_peak / 2**20),
        "regscan_large_seconds": round(large_s, 1),
        "regscan_packages": sum(len(p.get("packages", [])) for p in doc),
    }
    if not ctx.args.no_syft_large:
        syft = run_syft(large_registry, large_ref)
        result["syft_peak_rss_large_mb"] = round(syft.peak_rss / 2**20)
        result["syft_large_seconds"] = round(syft.seconds, 1)
    delta = result["regscan_peak_rss_large_mb"] - result["regscan_peak_rss_small_mb"]
    result["delta_mb"] = delta
    ctx.results["memory"] = result
    ctx.add(
        "5 memory",
        "large layer (MB compressed / uncompressed)",
        f"{result['large_layer_mb']} / {result['large_layer_uncompressed_mb']}",
    )
    ctx.add(
        "5 memory",
        "peak RSS small image / large image (MB)",
        f"{result['regscan_peak_rss_small_mb']} / {result['regscan_peak_rss_large_mb']}",
        f"+<= {GOAL_DELTA_MB} MB",
        delta <= GOAL_DELTA_MB,
    )
    if "syft_peak_rss_large_mb" in result:
        ctx.add("5 memory", "syft peak RSS large image (MB)", result["syft_peak_rss_large_mb"])
        ctx.add(
            "5 memory",
            "large image seconds regscan / syft",
            f"{result['regscan_large_seconds']} / {result['syft_large_seconds']}",
        )
    return result
