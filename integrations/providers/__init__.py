"""Provider registry: one entry per provider module, imported lazily on first use.

Adding a provider is one line here plus its module (see README "Adding a provider").
"""

from __future__ import annotations

from importlib import import_module

from .base import Provider, ProviderConfig, ProviderError

__all__ = ["PROVIDERS", "PROVIDER_CHOICES", "get_provider", "get_provider_class"]

PROVIDERS: dict[str, str] = {
    "ecr": "integrations.providers.ecr.EcrProvider",
    "acr": "integrations.providers.acr.AcrProvider",
    "dockerhub": "integrations.providers.dockerhub.DockerHubProvider",
    "artifactory": "integrations.providers.artifactory.ArtifactoryProvider",
    "oci": "integrations.providers.oci.OciProvider",
}
PROVIDER_LABELS: dict[str, str] = {
    "ecr": "Amazon ECR",
    "acr": "Azure Container Registry",
    "dockerhub": "Docker Hub",
    "artifactory": "JFrog Artifactory",
    "oci": "Generic OCI registry",
}
PROVIDER_CHOICES = [(kind, PROVIDER_LABELS[kind]) for kind in PROVIDERS]


def get_provider_class(kind: str) -> type[Provider]:
    try:
        dotted = PROVIDERS[kind]
    except KeyError:
        raise ProviderError(
            f"Unknown provider {kind!r}; choose one of {', '.join(PROVIDERS)}.", permanent=True
        ) from None
    module, _, name = dotted.rpartition(".")
    return getattr(import_module(module), name)


def get_provider(kind: str, config: ProviderConfig) -> Provider:
    """Return a ready provider of ``kind`` for ``config``."""
    return get_provider_class(kind)(config)
