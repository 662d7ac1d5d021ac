"""Scan orchestration: requesting a scan, listing and selecting tags, the per-image work, and
finishing runs. ``scans.tasks`` wraps these as django-q2 tasks that take ids.

One registry scan is split per image: :func:`start_run` lists the registry, writes the coverage
ledger (one ImageScan per listed tag: pending, or skipped with the reason) and dispatches one
:func:`scan_image_task` per pending image, so several workers share the run. Every state change
is a conditional UPDATE, so a task delivered twice (a worker killed mid-image, django-q2
redelivering it) does nothing twice; run counters move with F() expressions; the run finishes
when its last image does. ``latest`` tags (and tags whose digest is scanned earlier in the same
run) are *deferred*: dispatched only once every other image of the run is done, so ``latest`` is
scanned last and a shared digest is pulled once.
"""

from __future__ import annotations

import inspect
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone

from integrations.crypto import KeyConfigError
from integrations.providers.base import Provider, ProviderError, TagInfo
from regscan_site.logging import redact

from . import policy
from .engine.types import ScanError
from .models import ImageScan, ImageScanStatus, Repository, ScanRun, ScanRunStatus, Tag

if TYPE_CHECKING:
    from integrations.models import Registry

__all__ = [
    "list_tag_states",
    "reap_stale_runs",
    "request_scan",
    "join_run",
    "run_inline",
    "run_report",
    "scan_image_task",
    "start_run",
]

log = logging.getLogger("regscan.scans")

ACTIVE = [ScanRunStatus.QUEUED, ScanRunStatus.RUNNING]
OPEN = [ImageScanStatus.PENDING, ImageScanStatus.RUNNING]
REGISTRY_TASK = "scans.tasks.scan_registry"
IMAGE_TASK = "scans.tasks.scan_one_image"
TRANSIENT_ATTEMPTS = 2


# --- Dispatch ------------------------------------------------------------------------------


def _enqueue(func: str, *args: Any) -> None:
    """Send a task to the django-q2 cluster (runs inline when Q_CLUSTER sync is on)."""
    from django_q.tasks import async_task

    async_task(func, *args, group=func.rsplit(".", 1)[-1])


@dataclass
class _Dispatch:
    """Where image work goes: the cluster, or a local queue drained by :func:`run_inline`."""

    inline: bool = False
    queue: list[int] = field(default_factory=list)

    def image(self, image_scan_id: int) -> None:
        if self.inline:
            self.queue.append(image_scan_id)
        else:
            _enqueue(IMAGE_TASK, image_scan_id)


_CLUSTER = _Dispatch()


# --- Requesting a scan ---------------------------------------------------------------------


def _busy_message(registry: Registry) -> str:
    active = ScanRun.objects.filter(registry=registry, status__in=ACTIVE).first()
    if active is None:  # finished in between: say so plainly
        return f"{registry.name} was being scanned; try again."
    started = active.started_at or active.created_at
    tz = registry.organization.time_zone or "UTC"
    import zoneinfo

    local = timezone.localtime(started, zoneinfo.ZoneInfo(tz)).strftime("%H:%M")
    return f"{registry.name} is already being scanned (started {local})."


def request_scan(
    registry: Registry, *, trigger: str, actor: Any, enqueue: bool = True
) -> tuple[ScanRun | None, str]:
    """Start a scan of ``registry`` unless one is queued or running.

    Returns (the new queued run, a message) or (None, "X is already being scanned (started
    HH:MM)."). Race-free: the database's partial unique constraint on active runs refuses a
    second one, so concurrent callers start exactly one run. The run is dispatched to the
    cluster after the surrounding transaction commits (``enqueue=False``: the caller runs it,
    e.g. with :func:`run_inline`).
    """
    reap_stale_runs(registry_id=registry.pk)
    try:
        with transaction.atomic():
            run = ScanRun.objects.create(
                registry=registry,
                trigger=trigger,
                actor=actor,
                status=ScanRunStatus.QUEUED,
                heartbeat_at=timezone.now(),
            )
    except IntegrityError:
        return None, _busy_message(registry)
    if enqueue:
        transaction.on_commit(lambda: _enqueue(REGISTRY_TASK, run.pk))
    log.info("Scan %s of %s requested (%s)", run.pk, registry.name, trigger)
    return run, f"Scan of {registry.name} started."


# --- Listing and selecting -----------------------------------------------------------------


def _pushed_at(info: TagInfo, stored: Tag | None, now: datetime) -> tuple[datetime, str]:
    """The push time of a listed tag and where it came from.

    A registry without push times (plain OCI) falls back to the image config's ``created``
    (the provider's ``config`` source) and then to the time regscan first saw the digest.
    """
    if info.pushed_at is not None:
        return info.pushed_at, info.pushed_at_source or "registry"
    if stored is not None and stored.digest == info.digest and stored.pushed_at:
        return stored.pushed_at, stored.pushed_at_source or "first_seen"
    return now, "first_seen"


@dataclass
class Listing:
    """A registry's listing: tag states for the policy, filtered repositories, raw tag infos."""

    states: list[policy.TagState]
    repo_skips: list[policy.Decision]
    repositories: list[str]
    infos: dict[tuple[str, str], tuple[TagInfo, datetime, str]]


def list_registry(registry: Registry, provider: Provider | None = None) -> Listing:
    """List repositories and tags (no pulls); raises ProviderError when the registry can't be
    listed. Reads stored tags to know what was scanned before; writes only what the provider
    learned about the registry (``Registry.provider_state``, e.g. remaining quotas)."""
    from integrations.services import provider_for

    provider = provider or provider_for(registry)
    settings_ = policy.pull_settings(registry)
    try:
        return _list_with(registry, provider, settings_)
    finally:
        _keep_provider_state(registry, provider)


def _list_with(registry: Registry, provider: Provider, settings_: policy.PullSettings) -> Listing:
    names = sorted(set(provider.repositories()))
    kept, dropped = policy.filter_repositories(names, settings_)
    now = timezone.now()
    stored = {
        (t.repository.name, t.name): t
        for t in Tag.objects.filter(repository__registry=registry).select_related("repository")
    }
    states, infos = [], {}
    takes_known = "known" in inspect.signature(provider.tags).parameters
    for repo in kept:
        for info in _tags(provider, repo, stored, takes_known):
            old = stored.get((repo, info.tag))
            pushed, source = _pushed_at(info, old, now)
            infos[(repo, info.tag)] = (info, pushed, source)
            states.append(
                policy.TagState(
                    repo,
                    info.tag,
                    info.digest,
                    pushed,
                    scanned_digest=old.scanned_digest if old else "",
                    scanned_pushed_at=old.scanned_pushed_at if old else None,
                )
            )
    repo_skips = [
        policy.Decision(name, "", None, policy.SKIP, policy.FILTERED_REPO) for name in dropped
    ]
    return Listing(states, repo_skips, kept, infos)


def _tags(provider: Provider, repo: str, stored: dict, takes_known: bool):
    """The provider's tags of ``repo``; providers that accept ``known`` (plain OCI, whose push
    dates cost a manifest and config fetch) get the push dates stored for known digests."""
    if not takes_known:
        return provider.tags(repo)
    known = {
        t.digest: (t.pushed_at, t.pushed_at_source or None)
        for (name, _), t in stored.items()
        if name == repo and t.digest and t.pushed_at
    }
    return provider.tags(repo, known=known)


def list_tag_states(
    registry: Registry, provider: Provider | None = None
) -> tuple[list[policy.TagState], list[policy.Decision]]:
    """(tag states, decisions for filtered repositories) of the registry's live listing."""
    listing = list_registry(registry, provider)
    return listing.states, listing.repo_skips


def _record_listing(registry: Registry, listing: Listing) -> None:
    """Upsert Repository and Tag rows with the listed digest and push time (bulk queries).

    What the last scan found (``scanned_*`` and the tag's images) is left alone, so results of
    the previous scan stay visible until the new ones land. Rows created meanwhile by someone
    else (a single-image scan) are tolerated: inserts ignore conflicts, then rows are updated.
    """
    now = timezone.now()
    Repository.objects.bulk_create(
        [Repository(registry=registry, name=n) for n in listing.repositories],
        ignore_conflicts=True,
    )
    repos = Repository.objects.filter(registry=registry, name__in=listing.repositories)
    repos.update(last_seen=now)
    repo_ids = dict(repos.values_list("name", "pk"))
    Tag.objects.bulk_create(
        [Tag(repository_id=repo_ids[r], name=t) for r, t in listing.infos],
        ignore_conflicts=True,
        batch_size=500,
    )
    tags = Tag.objects.filter(repository_id__in=repo_ids.values()).select_related("repository")
    changed = []
    for tag in tags:
        listed = listing.infos.get((tag.repository.name, tag.name))
        if listed is None:
            continue
        info, pushed, source = listed
        values = (info.digest or "", pushed, source)
        if (tag.digest, tag.pushed_at, tag.pushed_at_source) != values:
            tag.digest, tag.pushed_at, tag.pushed_at_source = values
            changed.append(tag)
    Tag.objects.bulk_update(changed, ["digest", "pushed_at", "pushed_at_source"], batch_size=500)


def _ledger(run: ScanRun, decisions: list[policy.Decision]) -> list[ImageScan]:
    rows, seen = [], set()
    for order, d in enumerate(decisions):
        scan = d.action == policy.SCAN
        rows.append(
            ImageScan(
                run=run,
                order=order,
                repository=d.repository,
                tag=d.tag,
                digest=d.digest or "",
                pushed_at=d.pushed_at,
                status=ImageScanStatus.PENDING if scan else ImageScanStatus.SKIPPED,
                reason=d.reason,
                deferred=scan and (d.tag == "latest" or d.digest in seen),
            )
        )
        if scan:
            seen.add(d.digest)
    return ImageScan.objects.bulk_create(rows)


def _task_timeout() -> timedelta:
    return timedelta(seconds=settings.Q_CLUSTER.get("timeout") or 1800)


def _claim_run(run_id: int) -> ScanRun | None:
    """Move a queued run to running, or take over a run whose listing never committed and
    whose task must be dead (started longer ago than the cluster's task timeout)."""
    now = timezone.now()
    claimed = ScanRun.objects.filter(
        Q(status=ScanRunStatus.QUEUED)
        | Q(
            status=ScanRunStatus.RUNNING,
            listed_at__isnull=True,
            started_at__lt=now - _task_timeout(),
        ),
        pk=run_id,
    ).update(status=ScanRunStatus.RUNNING, started_at=now, heartbeat_at=now)
    if not claimed:
        return None
    return ScanRun.objects.select_related("registry__organization").get(pk=run_id)


def start_run(run_id: int, dispatch: _Dispatch | None = None) -> None:
    """List and select for run ``run_id``, write its ledger and dispatch its images.

    A run that was already started (a redelivered task) only has its pending images
    dispatched again, which is harmless: each image is claimed once.
    """
    dispatch = dispatch or _CLUSTER
    run = _claim_run(run_id)
    if run is None:
        _redispatch(run_id, dispatch)
        return
    registry = run.registry
    try:
        listing = list_registry(registry)
    except ProviderError as exc:
        _fail_run(run, redact(exc.message))
        return
    except KeyConfigError as exc:  # the operator's settings, not a bug: say what to fix
        _fail_run(run, str(exc))
        return
    except Exception:  # a bug or a database error: fail the run now rather than at reaping
        log.exception("Listing %s failed", registry.name)
        _fail_run(run, "Internal error while listing the registry (see the worker log).")
        return
    decisions = policy.select_tags(listing.states, policy.pull_settings(registry), timezone.now())
    decisions += listing.repo_skips
    scans = [d for d in decisions if d.action == policy.SCAN]
    with transaction.atomic():
        _record_listing(registry, listing)
        _ledger(run, decisions)
        ScanRun.objects.filter(pk=run.pk).update(
            repositories=len(listing.repositories),
            tags_listed=len(listing.states),
            selected=len(scans),
            skipped=len(decisions) - len(scans),
            skipped_unchanged=sum(1 for d in decisions if d.reason == policy.UNCHANGED),
            heartbeat_at=timezone.now(),
            listed_at=timezone.now(),
        )
    if not scans:
        _maybe_finish(run.pk)
        return
    _redispatch(run.pk, dispatch)


def _redispatch(run_id: int, dispatch: _Dispatch) -> None:
    pending = ImageScan.objects.filter(
        run_id=run_id, status=ImageScanStatus.PENDING, deferred=False
    ).order_by("order")
    for pk in pending.values_list("pk", flat=True):
        dispatch.image(pk)
    _release_deferred(run_id, dispatch)


def _fail_run(run: ScanRun, error: str) -> None:
    ScanRun.objects.filter(pk=run.pk, status__in=ACTIVE).update(
        status=ScanRunStatus.FAILED, error=error, finished_at=timezone.now()
    )
    log.warning("Scan %s of %s failed: %s", run.pk, run.registry, error)


# --- One image -----------------------------------------------------------------------------


def _claim_image(image_scan_id: int) -> ImageScan | None:
    """PENDING -> RUNNING, or take over a RUNNING row whose worker must be dead (it started
    longer ago than the cluster's task timeout, after which django-q2 kills a task)."""
    now = timezone.now()
    dead_before = now - _task_timeout()
    claimed = (
        ImageScan.objects.filter(pk=image_scan_id, deferred=False)
        .filter(
            Q(status=ImageScanStatus.PENDING)
            | Q(status=ImageScanStatus.RUNNING, started_at__lt=dead_before)
        )
        .update(status=ImageScanStatus.RUNNING, started_at=now, attempts=F("attempts") + 1)
    )
    if not claimed:
        return None
    scan = ImageScan.objects.select_related("run__registry__organization").get(pk=image_scan_id)
    ScanRun.objects.filter(pk=scan.run_id).update(heartbeat_at=now)
    return scan


@dataclass
class ImageOutcome:
    status: str  # scanned | reused | skipped (not an image this scanner reads)
    images: list = field(default_factory=list)  # scans.models.Image rows of the tag
    bytes_downloaded: int = 0
    reason: str = ""


def _scan_with_retries(scan: ImageScan, scanner: Callable[[ImageScan], ImageOutcome]):
    """Run ``scanner``; transient ProviderErrors are retried once. Returns (outcome, error)."""
    from integrations.providers.distribution import UnsupportedMediaType

    for attempt in range(TRANSIENT_ATTEMPTS):
        try:
            return scanner(scan), ""
        except UnsupportedMediaType as exc:  # an artifact, schema 1...: skipped, not failed
            return ImageOutcome(ImageScanStatus.SKIPPED, reason=exc.message[:300]), ""
        except ProviderError as exc:
            if exc.permanent or attempt + 1 == TRANSIENT_ATTEMPTS:
                return None, redact(exc.message)
            time.sleep(1 + attempt)
        except ScanError as exc:  # a broken or hostile image: its message says why
            log.warning("Image %s:%s failed: %s", scan.repository, scan.tag, redact(str(exc)))
            return None, redact(str(exc))
        except Exception as exc:  # an image never fails the others
            log.exception("Image %s:%s failed", scan.repository, scan.tag)
            return None, redact(f"{type(exc).__name__}: {exc}")
    return None, "not scanned"


def scan_image_task(image_scan_id: int, dispatch: _Dispatch | None = None) -> None:
    """Scan one ledger row (idempotent: a row already claimed or finished is left alone)."""
    dispatch = dispatch or _CLUSTER
    scan = _claim_image(image_scan_id)
    if scan is None:
        return
    outcome, error = _scan_with_retries(scan, scan_tag)
    _finish_image(scan, outcome, error)
    _release_deferred(scan.run_id, dispatch)
    _maybe_finish(scan.run_id)


def _finish_image(scan: ImageScan, outcome: ImageOutcome | None, error: str) -> None:
    now = timezone.now()
    status = outcome.status if outcome else ImageScanStatus.FAILED
    counter = {"scanned": "scanned", "reused": "reused", "skipped": "skipped"}.get(status, "failed")
    size = outcome.bytes_downloaded if outcome else 0
    row = {"status": status, "error": error, "finished_at": now, "bytes_downloaded": size}
    if outcome:
        row["platform"] = ", ".join(i.platform for i in outcome.images if i.platform)[:100]
    if outcome and outcome.reason:
        row["reason"] = outcome.reason
    counts = {counter: F(counter) + 1}
    if status == ImageScanStatus.SKIPPED:
        counts["selected"] = F("selected") - 1  # not an image after all: out of the progress
    with transaction.atomic():
        done = ImageScan.objects.filter(pk=scan.pk, status=ImageScanStatus.RUNNING).update(**row)
        if not done:
            return
        if outcome:
            _record_tag(scan, outcome, now)
        ScanRun.objects.filter(pk=scan.run_id).update(
            **counts, bytes_downloaded=F("bytes_downloaded") + size, heartbeat_at=now
        )


def _record_tag(scan: ImageScan, outcome: ImageOutcome, now: datetime) -> None:
    """The new results land: the tag now points at the scanned images."""
    registry = scan.run.registry
    repo, _ = Repository.objects.get_or_create(registry=registry, name=scan.repository)
    tag, _ = Tag.objects.get_or_create(repository=repo, name=scan.tag)
    tag.digest = scan.digest
    tag.scanned_digest = scan.digest
    tag.scanned_pushed_at = scan.pushed_at
    if scan.pushed_at:
        tag.pushed_at = scan.pushed_at
    tag.last_scanned = now
    tag.save()
    tag.images.set(outcome.images)
    type(scan).objects.filter(pk=scan.pk).update(
        image=outcome.images[0] if outcome.images else None
    )


def _release_deferred(run_id: int, dispatch: _Dispatch) -> None:
    """Dispatch deferred images once no other image of the run is open (each exactly once)."""
    if ImageScan.objects.filter(run_id=run_id, deferred=False, status__in=OPEN).exists():
        return
    deferred = ImageScan.objects.filter(
        run_id=run_id, deferred=True, status=ImageScanStatus.PENDING
    ).order_by("order")
    for pk in list(deferred.values_list("pk", flat=True)):
        if ImageScan.objects.filter(pk=pk, deferred=True).update(deferred=False):
            dispatch.image(pk)


def _maybe_finish(run_id: int) -> None:
    """Finish the run when no image is open (exactly once: a conditional update)."""
    if ImageScan.objects.filter(run_id=run_id, status__in=OPEN).exists():
        return
    run = ScanRun.objects.get(pk=run_id)
    if run.failed and not (run.scanned or run.reused):
        status, error = ScanRunStatus.FAILED, f"All {run.failed} images failed."
    elif run.failed:
        status, error = ScanRunStatus.PARTIAL, f"{run.failed} of {run.selected} images failed."
    else:
        status, error = ScanRunStatus.SUCCEEDED, ""
    finished = ScanRun.objects.filter(
        pk=run_id, status=ScanRunStatus.RUNNING, listed_at__isnull=False
    ).update(status=status, error=error, finished_at=timezone.now())
    if finished:
        from integrations.models import Registry

        Registry.objects.filter(pk=run.registry_id).update(last_seen_at=timezone.now())
        log.info("Scan %s finished: %s", run_id, status)


# --- Stale runs ----------------------------------------------------------------------------


def reap_stale_runs(*, registry_id: int | None = None, now: datetime | None = None) -> int:
    """Finish runs without progress for REGSCAN_STALE_RUN_MINUTES as failed, with a reason,
    then dispatch again the open images of runs quiet for a task timeout (requeue_orphans).

    Open images of a failed run are marked failed. Returns how many runs were reaped.
    """
    now = now or timezone.now()
    minutes = settings.REGSCAN_STALE_RUN_MINUTES
    cutoff = now - timedelta(minutes=minutes)
    stale = ScanRun.objects.filter(status__in=ACTIVE).filter(
        Q(heartbeat_at__lt=cutoff) | Q(heartbeat_at__isnull=True, created_at__lt=cutoff)
    )
    if registry_id is not None:
        stale = stale.filter(registry_id=registry_id)
    reaped = 0
    reason = f"No progress for {minutes} minutes (a worker stopped?); the run was abandoned."
    for run_id in list(stale.values_list("pk", flat=True)):
        with transaction.atomic():
            if not ScanRun.objects.filter(pk=run_id, status__in=ACTIVE).update(
                status=ScanRunStatus.FAILED, error=reason, finished_at=now
            ):
                continue
            n = ImageScan.objects.filter(run_id=run_id, status__in=OPEN).update(
                status=ImageScanStatus.FAILED, error=reason, finished_at=now, deferred=False
            )
            ScanRun.objects.filter(pk=run_id).update(failed=F("failed") + n)
        reaped += 1
        log.warning("Scan %s reaped: %s", run_id, reason)
    requeue_orphans(registry_id=registry_id, now=now)
    return reaped


def requeue_orphans(*, registry_id: int | None = None, now: datetime | None = None) -> int:
    """Dispatch again the open images of listed runs without progress for a task timeout.

    A broker without redelivery (Redis) loses the tasks a killed worker had taken; their
    images stay pending (or running, by a dead worker) and would stall the run until it is
    reaped. Dispatching them again is safe: each image is claimed once. Returns the number of
    runs whose images were dispatched again."""
    now = now or timezone.now()
    quiet = ScanRun.objects.filter(
        status=ScanRunStatus.RUNNING,
        listed_at__isnull=False,
        heartbeat_at__lt=now - _task_timeout(),
    )
    if registry_id is not None:
        quiet = quiet.filter(registry_id=registry_id)
    count = 0
    for run_id in list(quiet.values_list("pk", flat=True)):
        ImageScan.objects.filter(
            run_id=run_id, status=ImageScanStatus.RUNNING, started_at__lt=now - _task_timeout()
        ).update(status=ImageScanStatus.PENDING)
        _redispatch(run_id, _CLUSTER)
        _maybe_finish(run_id)
        count += 1
    return count


# --- Running in this process, and reporting ------------------------------------------------


def run_inline(run: ScanRun) -> ScanRun:
    """Run a queued run to the end in this process (``runscan --wait``); returns it reloaded."""
    dispatch = _Dispatch(inline=True)
    start_run(run.pk, dispatch)
    while dispatch.queue:
        scan_image_task(dispatch.queue.pop(0), dispatch)
    _maybe_finish(run.pk)
    return ScanRun.objects.get(pk=run.pk)


def join_run(run: ScanRun, *, timeout: float | None = None, poll: float = 1.0) -> ScanRun:
    """Help a run that is already queued or running elsewhere and wait for its end.

    A queued run is taken over and run here; images still pending are scanned here too (each
    image is claimed once, so workers and this process share them). Returns the run reloaded,
    finished unless ``timeout`` seconds (default: the cluster's task timeout) ran out first.
    """
    deadline = time.monotonic() + (
        timeout if timeout is not None else _task_timeout().total_seconds()
    )
    while True:
        run = run_inline(run)
        if run.status not in ACTIVE or time.monotonic() >= deadline:
            return run
        time.sleep(poll)


def _scanned_row(r: ImageScan) -> dict[str, Any]:
    return {
        "repository": r.repository,
        "tag": r.tag,
        "digest": r.digest,
        "platform": r.platform,
        "status": r.status,
        "error": r.error,
        "reason": r.reason,
    }


def run_report(run: ScanRun) -> dict[str, Any]:
    """The ``runscan --json`` object of a run (DESIGN.md CLI contract)."""
    rows = list(run.image_scans.order_by("finished_at", "order"))
    done = [r for r in rows if r.status not in (ImageScanStatus.SKIPPED,)]
    done.sort(key=lambda r: (r.finished_at is None, r.finished_at or run.created_at, r.order))
    return {
        "registry": run.registry.name,
        "run": run.pk,
        "status": run.status,
        "trigger": run.trigger,
        "error": run.error,
        "scanned": [_scanned_row(r) for r in done],
        "skipped": [
            {"repository": r.repository, "tag": r.tag, "reason": r.reason}
            for r in sorted(rows, key=lambda r: r.order)
            if r.status == ImageScanStatus.SKIPPED
        ],
        "counts": {
            "repositories": run.repositories,
            "tags_listed": run.tags_listed,
            "selected": run.selected,
            "scanned": run.scanned,
            "reused": run.reused,
            "failed": run.failed,
            "skipped": run.skipped,
            "skipped_unchanged": run.skipped_unchanged,
        },
        "bytes_downloaded": run.bytes_downloaded,
        "started_at": run.started_at.isoformat() if run.started_at else None,
        "finished_at": run.finished_at.isoformat() if run.finished_at else None,
    }


# --- Pulling and scanning one tag ----------------------------------------------------------


def _reuse(registry: Registry, digest: str) -> list | None:
    """Image rows for ``digest`` (a manifest or an index) whose SBOMs already exist, made
    available in ``registry`` without pulling; None when some platform was never scanned."""
    from .models import Image

    known = list(
        Image.objects.filter(Q(digest=digest) | Q(index_digest=digest), sbom__isnull=False)
        .select_related("sbom")
        .order_by("registry_id", "platform")
    )
    if not known:
        return None
    own = [i for i in known if i.registry_id == registry.pk]
    if own:
        return own
    source = known[0].registry_id
    rows = []
    for image in (i for i in known if i.registry_id == source):
        row, _ = Image.objects.get_or_create(
            registry=registry,
            digest=image.digest,
            defaults={
                "index_digest": image.index_digest,
                "media_type": image.media_type,
                "platform": image.platform,
                "config_created": image.config_created,
                "sbom": image.sbom,
                "last_scanned": timezone.now(),
            },
        )
        rows.append(row)
    return rows


def scan_tag(scan: ImageScan) -> ImageOutcome:
    """Scan the tag of a ledger row: reuse the SBOMs of a known digest (no pull), else pull
    and analyze every platform image. Raises ProviderError / ScanError on failure."""
    registry = scan.run.registry
    reused = _reuse(registry, scan.digest)
    if reused is not None:
        _sync_findings(reused)
        return ImageOutcome(ImageScanStatus.REUSED, reused, 0)
    return _pull_and_scan(registry, scan)


def _pull_and_scan(registry: Registry, scan: ImageScan) -> ImageOutcome:
    """Pull the tag's manifest(s) and layers through the provider and build the SBOM(s).

    The listed digest is pulled (not the tag), so what is scanned is what was selected."""
    from integrations.services import provider_for

    from . import services

    provider = provider_for(registry)
    client = provider.distribution()
    images = services.scan_registry_reference(
        client, registry, scan.repository, scan.digest or scan.tag, limits=services.limits()
    )
    _keep_provider_state(registry, provider)
    _sync_findings(images)
    return ImageOutcome(ImageScanStatus.SCANNED, list(images), client.bytes_downloaded)


def _keep_provider_state(registry: Registry, provider: Provider) -> None:
    """Store what the provider learned (e.g. Docker Hub's remaining pull quota) for the UI.

    A merge of keys, so the listing's facts and the pulls' facts both survive."""
    from integrations.models import Registry as RegistryModel

    if provider.state:
        rows = RegistryModel.objects.filter(pk=registry.pk)
        stored = rows.values_list("provider_state", flat=True).first() or {}
        rows.update(provider_state={**stored, **provider.state})


def _sync_findings(images: list) -> None:
    """Match the images' SBOMs against the vulnerability database (findings per image)."""
    from . import services

    for image in images:
        services.sync_findings(image)
