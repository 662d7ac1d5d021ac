"""The pull policy: which tags a scan pulls, in which order, and why every other tag is skipped.

:func:`select_tags` is a pure function (no database, no network, ``now`` injected) so the rules
of the product brief are tested directly:

- per repository, the N (default 10) most recently pushed tags after the include/exclude globs
  and the maximum age;
- a tag is scanned when it is new, or its digest or push date changed since it was scanned;
- scan order is oldest push first, with every ``latest`` tag at the very end so the newest state
  wins.

:func:`preview` applies it to a registry's live listing (the dry run of ``integration preview``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from fnmatch import fnmatchcase
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from integrations.models import Registry
    from integrations.providers.base import Provider

__all__ = [
    "Decision",
    "PullSettings",
    "TagState",
    "filter_repositories",
    "preview",
    "pull_settings",
    "select_tags",
]

SCAN, SKIP = "scan", "skip"
NEW = "new"
DIGEST_CHANGED = "digest changed"
PUSH_DATE_CHANGED = "push date changed"
UNCHANGED = "unchanged"
FILTERED = "filtered by include/exclude"
FILTERED_REPO = "repository filtered by include/exclude"
OLDER_THAN_N = "older than the newest {n}"
OLDER_THAN_MAX_AGE = "older than max age ({days} days)"
NO_DIGEST = "no digest (tag could not be resolved)"
_EPOCH = datetime.min


@dataclass(frozen=True)
class PullSettings:
    max_tags: int = 10
    include_repos: tuple[str, ...] = ()
    exclude_repos: tuple[str, ...] = ()
    include_tags: tuple[str, ...] = ()
    exclude_tags: tuple[str, ...] = ()
    max_age_days: int | None = None


@dataclass(frozen=True)
class TagState:
    """A listed tag plus what the last scan of it saw (empty when never scanned)."""

    repository: str
    tag: str
    digest: str | None
    pushed_at: datetime | None
    scanned_digest: str = ""
    scanned_pushed_at: datetime | None = None


@dataclass(frozen=True)
class Decision:
    repository: str
    tag: str
    digest: str | None
    action: str  # "scan" | "skip"
    reason: str
    pushed_at: datetime | None = field(default=None, compare=False)


def pull_settings(registry: Registry) -> PullSettings:
    """The pull settings of a Registry row."""
    return PullSettings(
        max_tags=registry.max_tags or 10,
        include_repos=tuple(registry.include_repos or ()),
        exclude_repos=tuple(registry.exclude_repos or ()),
        include_tags=tuple(registry.include_tags or ()),
        exclude_tags=tuple(registry.exclude_tags or ()),
        max_age_days=registry.max_age_days,
    )


def _matches(name: str, include: tuple[str, ...], exclude: tuple[str, ...]) -> bool:
    if include and not any(fnmatchcase(name, g) for g in include):
        return False
    return not any(fnmatchcase(name, g) for g in exclude)


def filter_repositories(names: list[str], settings: PullSettings) -> tuple[list[str], list[str]]:
    """Split repository names into (kept, filtered out) by the repository globs."""
    kept = [n for n in names if _matches(n, settings.include_repos, settings.exclude_repos)]
    dropped = [n for n in names if n not in set(kept)]
    return kept, dropped


def _push_key(state: TagState) -> tuple:
    # Unknown push dates sort as oldest; the tag name breaks ties so the order is stable.
    pushed = state.pushed_at.replace(tzinfo=None) if state.pushed_at else _EPOCH
    return (pushed, state.tag)


def _change_reason(state: TagState) -> str:
    if not state.scanned_digest:
        return NEW
    if state.digest != state.scanned_digest:
        return DIGEST_CHANGED
    if state.pushed_at and state.pushed_at != state.scanned_pushed_at:
        return PUSH_DATE_CHANGED
    return UNCHANGED


def _decide_repository(
    states: list[TagState], settings: PullSettings, now: datetime
) -> tuple[list[Decision], list[Decision]]:
    scans: list[Decision] = []
    skips: list[Decision] = []

    def skip(s: TagState, reason: str) -> None:
        skips.append(Decision(s.repository, s.tag, s.digest, SKIP, reason, s.pushed_at))

    candidates = []
    cutoff = now - timedelta(days=settings.max_age_days) if settings.max_age_days else None
    for s in states:
        if not _matches(s.tag, settings.include_tags, settings.exclude_tags):
            skip(s, FILTERED)
        elif cutoff and s.pushed_at and s.pushed_at < cutoff:
            skip(s, OLDER_THAN_MAX_AGE.format(days=settings.max_age_days))
        elif not s.digest:
            skip(s, NO_DIGEST)
        else:
            candidates.append(s)
    candidates.sort(key=_push_key, reverse=True)
    newest, older = candidates[: settings.max_tags], candidates[settings.max_tags :]
    for s in older:
        skip(s, OLDER_THAN_N.format(n=settings.max_tags))
    for s in sorted(newest, key=_push_key):
        reason = _change_reason(s)
        if reason == UNCHANGED:
            skip(s, UNCHANGED)
        else:
            scans.append(Decision(s.repository, s.tag, s.digest, SCAN, reason, s.pushed_at))
    return scans, skips


def select_tags(tags: list[TagState], settings: PullSettings, now: datetime) -> list[Decision]:
    """Decide for every listed tag; returns the scans in scan order, then the skips.

    Scan order: repository by repository (in listing order), oldest push first; every ``latest``
    tag comes after all other scans. Tag globs are matched with fnmatch (case-sensitive).
    """
    by_repo: dict[str, list[TagState]] = {}
    for state in tags:
        by_repo.setdefault(state.repository, []).append(state)
    scans: list[Decision] = []
    skips: list[Decision] = []
    for states in by_repo.values():
        repo_scans, repo_skips = _decide_repository(states, settings, now)
        scans += repo_scans
        skips += repo_skips
    scans.sort(key=lambda d: d.tag == "latest")  # stable: keeps push order otherwise
    return scans + skips


def preview(registry: Registry, provider: Provider | None = None) -> list[Decision]:
    """What the next scan of ``registry`` would do (lists the registry; pulls nothing).

    Raises ProviderError when the registry can't be listed.
    """
    from scans.orchestration import list_tag_states

    states, repo_skips = list_tag_states(registry, provider)
    from django.utils import timezone

    return select_tags(states, pull_settings(registry), timezone.now()) + repo_skips
