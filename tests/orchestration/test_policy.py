"""The pull policy as a pure function: the rules of the product brief, one test each."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from scans.policy import PullSettings, TagState, select_tags

NOW = datetime(2026, 6, 1, 12, tzinfo=UTC)


def pushed(days_ago: float) -> datetime:
    return NOW - timedelta(days=days_ago)


def tags(n: int, repo: str = "app", *, latest_age: float | None = 0.5) -> list[TagState]:
    """``n`` tags v1..vn pushed a day apart (vn newest) plus ``latest`` when latest_age."""
    states = [
        TagState(repo, f"v{i}", f"sha256:{repo}{i}", pushed(n - i + 1)) for i in range(1, n + 1)
    ]
    if latest_age is not None:
        states.append(TagState(repo, "latest", f"sha256:{repo}latest", pushed(latest_age)))
    return states


def scanned(states: list[TagState]) -> list[TagState]:
    """The same tags as they look after a scan."""
    return [
        TagState(s.repository, s.tag, s.digest, s.pushed_at, s.digest, s.pushed_at) for s in states
    ]


def scan_order(decisions):
    return [d.tag for d in decisions if d.action == "scan"]


def reasons(decisions):
    return {d.tag: d.reason for d in decisions if d.action == "skip"}


def test_first_scan_takes_the_ten_newest_in_push_order_with_latest_last():
    decisions = select_tags(tags(11), PullSettings(), NOW)
    assert scan_order(decisions) == [f"v{i}" for i in range(3, 12)] + ["latest"]
    assert reasons(decisions) == {
        "v1": "older than the newest 10",
        "v2": "older than the newest 10",
    }
    assert {d.reason for d in decisions if d.action == "scan"} == {"new"}


def test_latest_is_last_even_when_it_is_not_the_newest_push():
    states = tags(3, latest_age=10)
    assert scan_order(select_tags(states, PullSettings(), NOW)) == ["v1", "v2", "v3", "latest"]


def test_latest_tags_of_every_repository_come_after_all_other_scans():
    decisions = select_tags(tags(2, "a") + tags(2, "b"), PullSettings(), NOW)
    assert [(d.repository, d.tag) for d in decisions if d.action == "scan"] == [
        ("a", "v1"), ("a", "v2"), ("b", "v1"), ("b", "v2"), ("a", "latest"), ("b", "latest"),
    ]  # fmt: skip


def test_unchanged_tags_are_not_scanned_again():
    decisions = select_tags(scanned(tags(5)), PullSettings(), NOW)
    assert scan_order(decisions) == []
    assert set(reasons(decisions).values()) == {"unchanged"}


def test_a_new_push_date_or_digest_makes_a_tag_scan_again():
    states = scanned(tags(4))
    states[0] = TagState(
        "app", "v1", "sha256:other", states[0].pushed_at, "sha256:app1", states[0].pushed_at
    )
    states[1] = TagState("app", "v2", "sha256:app2", pushed(0.1), "sha256:app2", pushed(3))
    states.append(TagState("app", "v9", "sha256:app9", pushed(0.01)))
    decisions = select_tags(states, PullSettings(), NOW)
    by_tag = {d.tag: d.reason for d in decisions if d.action == "scan"}
    assert by_tag == {"v1": "digest changed", "v2": "push date changed", "v9": "new"}
    assert scan_order(decisions) == ["v1", "v2", "v9"]


def test_only_the_newest_n_count_even_when_older_ones_changed():
    states = scanned(tags(4, latest_age=None))
    states[0] = TagState(
        "app", "v1", "sha256:changed", states[0].pushed_at, "sha256:app1", states[0].pushed_at
    )
    decisions = select_tags(states, PullSettings(max_tags=3), NOW)
    assert scan_order(decisions) == []
    assert reasons(decisions)["v1"] == "older than the newest 3"


def test_tag_globs_and_max_age_filter_before_the_newest_n():
    states = tags(6, latest_age=None) + [TagState("app", "v7-rc1", "sha256:rc", pushed(0.1))]
    settings = PullSettings(
        max_tags=2, include_tags=("v*",), exclude_tags=("*-rc*",), max_age_days=5
    )
    decisions = select_tags(states, settings, NOW)
    assert scan_order(decisions) == ["v5", "v6"]
    why = reasons(decisions)
    assert why["v7-rc1"] == "filtered by include/exclude"
    assert why["v1"] == "older than max age (5 days)"
    assert why["v4"] == "older than the newest 2"


def test_tags_without_digest_are_skipped_with_a_reason():
    decisions = select_tags([TagState("app", "broken", None, pushed(1))], PullSettings(), NOW)
    assert reasons(decisions) == {"broken": "no digest (tag could not be resolved)"}


def test_every_listed_tag_gets_exactly_one_decision():
    states = tags(15, "a") + scanned(tags(3, "b"))
    decisions = select_tags(states, PullSettings(max_tags=10), NOW)
    assert sorted((d.repository, d.tag) for d in decisions) == sorted(
        (s.repository, s.tag) for s in states
    )
