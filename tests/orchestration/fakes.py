"""A provider for tests that lists a real local registry and reports push dates from a table
the test fills in, like ECR's ``imagePushedAt`` (DESIGN.md: push dates come from the provider).

Registered under the kind ``pushdates`` by the ``pushdate_provider`` fixture."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import ClassVar

from integrations.providers.base import Provider, ProviderError, PullAuth, TagInfo


class PushDateProvider(Provider):
    kind = "pushdates"
    label = "Test registry with push dates"
    push_times: ClassVar[dict[tuple[str, str], datetime]] = {}

    def check(self) -> None:
        self.distribution().ping()

    def repositories(self) -> Iterator[str]:
        yield from self.distribution().catalog()

    def tags(self, repository: str) -> Iterator[TagInfo]:
        client = self.distribution()
        for tag in client.list_tags(repository):
            try:
                digest = client.head_manifest(repository, tag).digest
            except ProviderError:
                digest = None
            pushed = self.push_times.get((repository, tag))
            yield TagInfo(tag, digest, pushed, "registry" if pushed else None)

    def pull_auth(self) -> PullAuth:
        return PullAuth(
            base_url=self.config.url,
            username=self.config.username,
            password=self.config.secret,
            verify=self.config.ca_bundle or not self.config.insecure,
        )
