"""Image references as people type them: ``nginx``, ``ghcr.io/org/app:1.2``,
``127.0.0.1:5000/team/app@sha256:...``.

Docker's defaults apply: a first component without a dot or a colon (other than
``localhost``) is a repository on Docker Hub, a one-component Docker Hub name lives in
``library/``, and no tag means ``latest``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["DOCKER_HUB", "DOCKER_HUB_ENDPOINT", "Reference", "parse_reference"]

DOCKER_HUB = "docker.io"
DOCKER_HUB_ENDPOINT = "registry-1.docker.io"
_HUB_ALIASES = {"docker.io", "index.docker.io", "registry-1.docker.io", "registry.hub.docker.com"}
_COMPONENT = re.compile(r"^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$")
_TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
_DIGEST = re.compile(r"^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-fA-F0-9]{32,}$")
_HOST = re.compile(r"^(?:[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(?::[0-9]{1,5})?$")


@dataclass(frozen=True)
class Reference:
    """A parsed image reference. ``registry`` is the canonical host (``docker.io`` for Docker
    Hub); ``tag`` is "" only when a digest was given without one."""

    registry: str
    repository: str
    tag: str = ""
    digest: str = ""

    @property
    def endpoint(self) -> str:
        """The host serving the Distribution API (Docker Hub's differs from its name)."""
        return DOCKER_HUB_ENDPOINT if self.registry == DOCKER_HUB else self.registry

    @property
    def ref(self) -> str:
        """What to ask the registry for: the digest when given, else the tag."""
        return self.digest or self.tag

    @property
    def name(self) -> str:
        """``registry/repository:tag`` (or ``@digest`` when there is no tag)."""
        suffix = f":{self.tag}" if self.tag else f"@{self.digest}"
        return f"{self.registry}/{self.repository}{suffix}"

    def __str__(self) -> str:
        tag = f":{self.tag}" if self.tag else ""
        digest = f"@{self.digest}" if self.digest else ""
        return f"{self.registry}/{self.repository}{tag}{digest}"


def parse_reference(text: str) -> Reference:
    """Parse ``text`` into a Reference. Raises ValueError with a message a person can act on."""
    original = text
    text = text.strip()
    if not text or any(c.isspace() for c in text) or "://" in text:
        raise ValueError(f"{original!r} is not an image reference like registry/repository:tag")
    rest, _, digest = text.partition("@")
    if digest and not _DIGEST.match(digest):
        raise ValueError(f"{digest!r} in {original!r} is not a digest like sha256:<hex>")
    host, path = _split_host(rest)
    path, tag = _split_tag(path, original)
    _check_path(path, original)
    if host in _HUB_ALIASES:
        host = DOCKER_HUB
    if host == DOCKER_HUB and "/" not in path:
        path = f"library/{path}"
    if not tag and not digest:
        tag = "latest"
    return Reference(registry=host, repository=path, tag=tag, digest=digest)


def _split_host(text: str) -> tuple[str, str]:
    first, sep, remainder = text.partition("/")
    if sep and ("." in first or ":" in first or first == "localhost") and _HOST.match(first):
        host = first.lower()
        if host.endswith(":443"):
            host = host[: -len(":443")]
        return host, remainder
    return DOCKER_HUB, text


def _split_tag(path: str, original: str) -> tuple[str, str]:
    head, sep, tag = path.rpartition(":")
    if not sep:
        return path, ""
    if "/" in tag or not _TAG.match(tag):
        raise ValueError(f"{tag!r} in {original!r} is not a valid tag")
    return head, tag


def _check_path(path: str, original: str) -> None:
    if not path:
        raise ValueError(f"{original!r} names no repository")
    for component in path.split("/"):
        if not _COMPONENT.match(component):
            raise ValueError(
                f"{component!r} in {original!r} is not a valid repository name component "
                "(lowercase letters, digits and . _ - separators)"
            )
