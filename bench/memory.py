"""Figure 5: peak RSS of a regscan process scanning the large-layer image, against the layer size
and against the same process scanning a small image (flat memory means the two are close).

The process is ``manage.py scanimage``: the same engine code a worker runs per image, measured
with the kernel's high-water mark (``wait4``). Syft scans the same image for comparison.
"""

from __future__ import annotations

from .cold import scanimage
from .context import Context, log
from .registry import AccessLog
from .syft import run_syft
from .throughput import add_integration, scan_with_workers

__all__ = ["run_memory", "worker_peak"]

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
    access = AccessLog(large_registry.access_log)
    access.mark()
    large_s, large_peak, doc = scanimage(ctx, ctx.instance("memory-large"), large_ref)
    pulled = access.counts()
    result = {
        "image": large_ref,
        "large_layer_mb": round(layer_mb),
        "large_layer_uncompressed_mb": round(image["large_layer_uncompressed"] / 2**20),
        "regscan_peak_rss_small_mb": round(small_peak / 2**20),
        "regscan_peak_rss_large_mb": round(large_peak / 2**20),
        "regscan_large_seconds": round(large_s, 1),
        "regscan_packages": sum(len(p.get("packages", [])) for p in doc),
        "regscan_blob_bytes": pulled.blob_bytes,
        "regscan_warnings": [p.get("warnings") for p in doc if p.get("warnings")],
    }
    result.update(worker_peak(ctx, large_registry))
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
    ctx.add("5 memory", "regscan blob bytes pulled (MB)", round(pulled.blob_bytes / 2**20))
    ctx.add(
        "5 memory",
        "qcluster (1 worker) peak RSS, large image scanned by it (MB)",
        result["worker_peak_rss_mb"],
    )
    if "syft_peak_rss_large_mb" in result:
        ctx.add("5 memory", "syft peak RSS large image (MB)", result["syft_peak_rss_large_mb"])
        ctx.add(
            "5 memory",
            "large image seconds regscan / syft",
            f"{result['regscan_large_seconds']} / {result['syft_large_seconds']}",
        )
    return result


def worker_peak(ctx: Context, registry) -> dict:
    """Scan the large-image registry with a 1-worker qcluster; return its largest peak RSS.

    The peak is the highest VmHWM among the cluster's processes (the worker that scanned the
    image among them), read once the scan has finished and before the cluster stops.
    """
    instance = ctx.instance("memory-worker", workers=1)
    add_integration(ctx, instance, url=registry.url)
    instance.start_cluster()
    try:
        scanned = scan_with_workers(ctx, instance, access=AccessLog(registry.access_log))
        peak = instance.cluster_high_water()
    finally:
        instance.stop_cluster()
    return {
        "worker_peak_rss_mb": round(peak / 2**20),
        "worker_images": scanned["images"],
        "worker_blob_bytes": scanned["registry"].blob_bytes,
    }
