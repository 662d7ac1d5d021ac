"""Image references normalised the way docker and containerd do (distribution's ``reference``
package: regexp.go and normalize.go), and the ``imageID`` of a container status."""

from __future__ import annotations

import re
from dataclasses import dataclass

from integrations.occurrences import registry_host

__all__ = ["DOCKER_HUB", "ImageReference", "parse_image_id", "parse_image_reference"]

_ALNUM = r"[a-z0-9]+"
_SEPARATOR = r"(?:[._]|__|[-]+)"
_PATH_COMPONENT = rf"{_ALNUM}(?:{_SEPARATOR}{_ALNUM})*"
_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_HOST = rf"(?:{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*|\[[a-fA-F0-9:]+\])"
_DOMAIN = rf"{_HOST}(?::[0-9]+)?"
_TAG = r"[\w][\w.-]{0,127}"
_DIGEST = r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}"
_REFERENCE_RE = re.compile(
    rf"^(?P<domain>{_DOMAIN})/(?P<path>{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*)"
    rf"(?::(?P<tag>{_TAG}))?(?:@(?P<digest>{_DIGEST}))?$"
)
_IDENTIFIER_RE = re.compile(r"^[a-f0-9]{64}$")
_IMAGE_ID_RE = re.compile(r"^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-f0-9]{32,}$")
_NAME_MAX = 255
DOCKER_HUB = "docker.io"


@dataclass(frozen=True)
class ImageReference:
    """A normalised image reference. ``domain`` keeps the case written (as docker does);
    :attr:`host` is the canonical registry host used to find integrations."""

    domain: str
    repository: str
    tag: str = ""
    digest: str = ""

    @property
    def name(self) -> str:
        return f"{self.domain}/{self.repository}"

    @property
    def host(self) -> str:
        return registry_host(self.domain)

    def __str__(self) -> str:
        text = self.name
        if self.tag:
            text += f":{self.tag}"
        if self.digest:
            text += f"@{self.digest}"
        return text


def parse_image_reference(text: str) -> ImageReference:
    """Normalise ``text`` like ``docker pull`` does; raise ``ValueError`` naming the problem.

    ``nginx`` -> ``docker.io/library/nginx:latest``; ``user/app`` -> ``docker.io/user/app:latest``;
    the first path component is a registry when it contains ``.`` or ``:``, is ``localhost``, or
    has upper-case letters. ``latest`` is added only when neither tag nor digest is given; a
    ``sha256`` digest must be 64 lower-case hex digits; repository names must be lower case.
    """
    if not isinstance(text, str) or not text.strip():
        raise ValueError("empty image reference")
    if text != text.strip():
        raise ValueError(f"image reference {text!r} has surrounding whitespace")
    if _IDENTIFIER_RE.match(text):
        raise ValueError(f"{text!r} is an image id (64 hex digits), not a reference")
    domain, remainder = _split_domain(text)
    remote = remainder.split("@", 1)[0]
    if ":" in remote:
        remote = remote.rsplit(":", 1)[0]
    if remote.lower() != remote:
        raise ValueError(f"repository name {remote!r} must be lower case")
    match = _REFERENCE_RE.match(f"{domain}/{remainder}")
    if not match:
        raise ValueError(f"invalid image reference {text!r}")
    ref = ImageReference(
        domain=match["domain"],
        repository=match["path"],
        tag=match["tag"] or "",
        digest=match["digest"] or "",
    )
    _validate_parts(text, ref)
    if not ref.tag and not ref.digest:
        ref = ImageReference(ref.domain, ref.repository, tag="latest")
    return ref


def _split_domain(text: str) -> tuple[str, str]:
    first, slash, rest = text.partition("/")
    if not slash or (
        not any(c in first for c in ".:") and first != "localhost" and first.lower() == first
    ):
        domain, remainder = DOCKER_HUB, text
    else:
        domain, remainder = first, rest
    if domain == "index.docker.io":
        domain = DOCKER_HUB
    if domain == DOCKER_HUB and "/" not in remainder:
        remainder = f"library/{remainder}"
    return domain, remainder


def _validate_parts(text: str, ref: ImageReference) -> None:
    if len(ref.name) > _NAME_MAX:
        raise ValueError(f"repository name of {text!r} is longer than {_NAME_MAX} characters")
    algorithm, _, hexdigits = ref.digest.partition(":")
    if algorithm == "sha256" and not re.fullmatch(r"[a-f0-9]{64}", hexdigits):
        raise ValueError(f"digest of {text!r} is not 64 lower-case hex digits")
    if ref.digest and algorithm not in ("sha256", "sha384", "sha512"):
        raise ValueError(f"unsupported digest algorithm {algorithm!r} in {text!r}")


def parse_image_id(image_id: str) -> tuple[str, str]:
    """Split a container status ``imageID`` into ``(repo_digest, runtime_image_id)``.

    ``docker-pullable://nginx@sha256:X`` and containerd's ``docker.io/library/nginx@sha256:X``
    give the manifest digest ``sha256:X``; a bare ``sha256:Y`` (or ``docker://sha256:Y``) is the
    runtime's image id (the config digest), which cannot be pulled. Unusable values give
    ``("", "")``.
    """
    value = (image_id or "").strip()
    for prefix in ("docker-pullable://", "docker://"):
        if value.startswith(prefix):
            value = value[len(prefix) :]
    if not value:
        return "", ""
    if _IMAGE_ID_RE.match(value):
        return "", value
    try:
        ref = parse_image_reference(value)
    except ValueError:
        return "", ""
    return ref.digest, ""
