"""The provider interface: every registry provider is a small subclass of :class:`Provider`.

Providers know nothing of Django models: they get a :class:`ProviderConfig` and return the
dataclasses below, never SDK objects. All registry I/O lives in this package.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, ClassVar

from integrations.crypto import Secret

if TYPE_CHECKING:
    from .distribution import DistributionClient

__all__ = [
    "CredentialField",
    "PullAuth",
    "Provider",
    "ProviderConfig",
    "ProviderError",
    "TagInfo",
    "UnknownReference",
]


class ProviderError(Exception):
    """A registry problem described for a person.

    ``permanent`` errors (bad credentials, missing permission, unknown repository) are not
    retried; transient ones (429, 5xx, timeouts, connection resets) may be.
    """

    def __init__(self, message: str, *, permanent: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.permanent = permanent


class UnknownReference(ProviderError):
    """The repository, tag, digest or platform asked for does not exist there (permanent):
    a wrong reference rather than a registry problem (``scanimage`` exits 2 on it)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, permanent=True)


@dataclass(frozen=True)
class CredentialField:
    """A field a provider asks for; ``secret`` fields are write-only everywhere."""

    name: str  # the ProviderConfig attribute it fills
    label: str
    required: bool = False
    secret: bool = False
    help_text: str = ""


@dataclass(frozen=True)
class ProviderConfig:
    """Everything a provider may need; which fields apply depends on the provider."""

    url: str = ""
    region: str = ""
    registry_id: str = ""
    role_arn: str = ""
    external_id: str = ""
    tenant_id: str = ""
    client_id: str = ""
    username: str = ""
    secret: Secret = field(default_factory=lambda: Secret(""))
    namespaces: tuple[str, ...] = ()
    repositories: tuple[str, ...] = ()
    api_endpoint: str = ""  # override of the provider's API endpoint (tests, private links)
    registry_endpoint: str = ""  # override of the pull endpoint (tests, private links)
    ca_bundle: str = ""  # path of a PEM file to trust ("" = system trust store)
    insecure: bool = False
    timeout: float = 30.0
    max_concurrency: int = 4
    allowed_networks: tuple[str, ...] = ()  # CIDRs allowed beyond loopback/private ranges


@dataclass(frozen=True)
class TagInfo:
    """One tag of a repository. ``pushed_at_source`` says where ``pushed_at`` came from:
    ``registry`` (the provider's API), ``config`` (the image config's ``created``), or ``None``
    when unknown (the caller then uses the time regscan first saw the digest)."""

    tag: str
    digest: str | None
    pushed_at: datetime | None
    pushed_at_source: str | None = "registry"


@dataclass(frozen=True)
class PullAuth:
    """How to pull through the Distribution API.

    ``base_url`` is the registry root (``https://host[:port]``); ``path_prefix`` is put in front
    of repository names (Artifactory's ``/artifactory/api/docker/<key>`` style paths use it).
    Give ``username``/``password`` for Basic or token-service auth, or ``bearer`` for a ready
    token (ECR's authorization token is sent as Basic with user ``AWS``)."""

    base_url: str
    username: str = ""
    password: Secret = field(default_factory=lambda: Secret(""))
    bearer: Secret = field(default_factory=lambda: Secret(""))
    verify: bool | str = True
    path_prefix: str = ""


class Provider(ABC):
    kind: ClassVar[str] = ""
    label: ClassVar[str] = ""
    credential_fields: ClassVar[tuple[CredentialField, ...]] = ()
    prerequisites: ClassVar[str] = ""  # shown on the provider's wizard page

    def __init__(self, config: ProviderConfig) -> None:
        self.config = config

    @classmethod
    def secret_fields(cls) -> tuple[str, ...]:
        return tuple(f.name for f in cls.credential_fields if f.secret)

    @abstractmethod
    def check(self) -> None:
        """Raise ProviderError with an actionable message when the registry can't be used."""

    @abstractmethod
    def repositories(self) -> Iterator[str]:
        """Yield repository names (all pages)."""

    @abstractmethod
    def tags(self, repository: str) -> Iterator[TagInfo]:
        """Yield the tags of ``repository`` (all pages)."""

    @abstractmethod
    def pull_auth(self) -> PullAuth:
        """Where and with which credentials to pull."""

    def distribution(self) -> DistributionClient:
        """The Distribution API client for pulls (manifests, blobs) from this registry."""
        from .distribution import DistributionClient

        return DistributionClient(
            self.pull_auth(),
            timeout=self.config.timeout,
            max_concurrency=self.config.max_concurrency,
            allowed_networks=self.config.allowed_networks,
        )

    @property
    def state(self) -> dict:
        """Facts to keep between scans (e.g. remaining pull quota); empty by default."""
        return {}
