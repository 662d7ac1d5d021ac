"""Amazon ECR: repositories and tags from the ECR API (boto3), pulls with an ECR authorization token.

Credentials, in order: an access key (``username`` = access key id, ``secret`` = secret access
key), optionally used to assume ``role_arn`` through STS; or ``role_arn`` alone, assumed with the
ambient credentials; or the ambient credentials themselves (instance profile, IRSA, environment).
The one seam is :attr:`EcrProvider.client`, the boto3 ``ecr`` client: tests swap it.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterator
from functools import cached_property
from typing import Any

import boto3
from botocore.config import Config
from botocore.credentials import RefreshableCredentials
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectTimeoutError,
    EndpointConnectionError,
    NoCredentialsError,
    ReadTimeoutError,
)
from botocore.session import get_session

from integrations.crypto import Secret

from ._rest import verify_for
from .base import CredentialField, Provider, ProviderError, PullAuth, TagInfo

__all__ = ["EcrProvider"]

# The IAM action behind each ECR API operation we call, so an AccessDenied names what to allow.
IAM_ACTIONS = {
    "describe_repositories": "ecr:DescribeRepositories",
    "describe_images": "ecr:DescribeImages",
    "get_authorization_token": "ecr:GetAuthorizationToken",
    "assume_role": "sts:AssumeRole",
}
_AUTH_CODES = {
    "UnrecognizedClientException",
    "InvalidSignatureException",
    "InvalidClientTokenId",
    "SignatureDoesNotMatch",
    "ExpiredTokenException",
    "ExpiredToken",
}
_DENIED_CODES = {"AccessDeniedException", "AccessDenied"}
_NOT_FOUND_CODES = {"RepositoryNotFoundException", "RegistryNotFoundException"}
_THROTTLE_CODES = {"ThrottlingException", "Throttling", "TooManyRequestsException"}


class EcrProvider(Provider):
    kind = "ecr"
    label = "Amazon ECR"
    credential_fields = (
        CredentialField("region", "AWS region", required=True, help_text="For example eu-west-1."),
        CredentialField(
            "registry_id", "Registry ID (AWS account)", help_text="Empty: the caller's account."
        ),
        CredentialField(
            "username", "Access key ID", help_text="Empty: use the role or ambient credentials."
        ),
        CredentialField("secret", "Secret access key", secret=True),
        CredentialField(
            "role_arn", "IAM role ARN to assume", help_text="Optional; assumed through STS."
        ),
        CredentialField("external_id", "External ID", help_text="Only if the role requires one."),
    )
    prerequisites = (
        "Allow these IAM actions to the access key or role: ecr:DescribeRepositories, "
        "ecr:DescribeImages, ecr:GetAuthorizationToken, ecr:BatchGetImage and "
        "ecr:GetDownloadUrlForLayer (the managed policy AmazonEC2ContainerRegistryReadOnly "
        "has them all). To assume a role, also allow sts:AssumeRole on it and trust the caller."
    )
    page_size = 1000  # maxResults per page: the most DescribeRepositories/DescribeImages allow

    # ---- the seam -------------------------------------------------------------------------

    @cached_property
    def client(self) -> Any:
        """The boto3 ``ecr`` client (assumes ``role_arn`` first when one is configured)."""
        return self._session().client("ecr", **self._client_kwargs())

    def _client_kwargs(self) -> dict[str, Any]:
        config = self.config
        kwargs: dict[str, Any] = {
            "region_name": config.region,
            "config": Config(
                connect_timeout=config.timeout,
                read_timeout=config.timeout,
                retries={"mode": "standard", "max_attempts": 4},
            ),
            "verify": verify_for(config),
        }
        if config.api_endpoint:
            kwargs["endpoint_url"] = config.api_endpoint
        return kwargs

    def _session(self) -> boto3.Session:
        config = self.config
        if config.username and not config.secret:
            # boto3 would silently fall back to the ambient credentials.
            raise ProviderError(
                "Enter the secret access key that belongs to the access key ID, or clear both "
                "to use the server's own AWS identity.",
                permanent=True,
            )
        session = boto3.Session(
            aws_access_key_id=config.username or None,
            aws_secret_access_key=(config.secret.reveal() or None) if config.username else None,
            region_name=config.region,
        )
        if not config.role_arn:
            return session
        return self._assumed_role_session(session)

    def _assumed_role_session(self, base: boto3.Session) -> boto3.Session:
        """A session with the role's temporary credentials, renewed through STS before they
        expire (a long scan outlives the default one-hour role session)."""
        config = self.config
        sts = base.client("sts", **self._client_kwargs())
        kwargs = {"RoleArn": config.role_arn, "RoleSessionName": "regscan"}
        if config.external_id:
            kwargs["ExternalId"] = config.external_id

        def assume() -> dict[str, str]:
            creds = self._call("assume_role", lambda: sts.assume_role(**kwargs))["Credentials"]
            return {
                "access_key": creds["AccessKeyId"],
                "secret_key": creds["SecretAccessKey"],
                "token": creds["SessionToken"],
                "expiry_time": creds["Expiration"].isoformat(),
            }

        credentials = RefreshableCredentials.create_from_metadata(
            metadata=assume(), refresh_using=assume, method="sts-assume-role"
        )
        botocore_session = get_session()
        # botocore has no public setter for refreshable credentials; this is the usual way.
        botocore_session._credentials = credentials
        return boto3.Session(botocore_session=botocore_session, region_name=config.region)

    # ---- the provider interface --------------------------------------------------------------

    def check(self) -> None:
        """Raise ProviderError unless the region is known and listing and pulling are allowed.

        Calls DescribeRepositories, DescribeImages on the first repository (if any) and
        GetAuthorizationToken, so a missing IAM action is named in the message, then checks the
        registry accepts the token (``GET /v2/``)."""
        self._check_region()
        first = next(iter(self._pages("describe_repositories", "repositories", maxResults=1)), None)
        if first is not None:
            name = first["repositoryName"]
            next(iter(self._pages("describe_images", "imageDetails", repositoryName=name)), None)
        self.distribution().ping()

    def repositories(self) -> Iterator[str]:
        """Yield every repository name of the registry (all pages)."""
        for repo in self._pages("describe_repositories", "repositories"):
            yield repo["repositoryName"]

    def tags(self, repository: str) -> Iterator[TagInfo]:
        """Yield one TagInfo per tag, with ``imagePushedAt`` as the push date (all pages).

        Raises a permanent ProviderError when the repository does not exist."""
        for image in self._pages(
            "describe_images",
            "imageDetails",
            repositoryName=repository,
            filter={"tagStatus": "TAGGED"},
        ):
            for tag in image.get("imageTags") or ():
                yield TagInfo(tag, image.get("imageDigest"), image.get("imagePushedAt"))

    def pull_auth(self) -> PullAuth:
        """Basic credentials ``AWS:<token>`` from GetAuthorizationToken, for the registry host
        (``registry_endpoint`` when set, else the endpoint ECR reports)."""
        kwargs = {"registryIds": [self.config.registry_id]} if self.config.registry_id else {}
        data = self._call(
            "get_authorization_token", lambda: self.client.get_authorization_token(**kwargs)
        )["authorizationData"][0]
        username, _, password = base64.b64decode(data["authorizationToken"]).decode().partition(":")
        return PullAuth(
            base_url=self._registry_url(data.get("proxyEndpoint", "")),
            username=username,
            password=Secret(password),
            verify=verify_for(self.config),
        )

    # ---- helpers ------------------------------------------------------------------------------

    def _registry_url(self, proxy_endpoint: str) -> str:
        config = self.config
        if config.registry_endpoint:
            return config.registry_endpoint.rstrip("/")
        if proxy_endpoint:
            return proxy_endpoint.rstrip("/")
        return f"https://{config.registry_id}.dkr.ecr.{config.region}.amazonaws.com"

    def _check_region(self) -> None:
        if not self.config.region:
            raise ProviderError("Choose the AWS region of the registry.", permanent=True)
        if self.config.api_endpoint:
            return  # a private endpoint or a test server: any region name goes
        known = set()
        for partition in ("aws", "aws-cn", "aws-us-gov"):
            known.update(boto3.Session().get_available_regions("ecr", partition_name=partition))
        if self.config.region not in known:
            raise ProviderError(
                f"Unknown AWS region {self.config.region!r}: use a region code such as "
                "us-east-1 or eu-west-1 where the registry lives.",
                permanent=True,
            )

    def _pages(self, operation: str, key: str, **kwargs: Any) -> Iterator[dict]:
        """Yield the items under ``key`` of every page of ``operation`` (``nextToken`` paging)."""
        if self.config.registry_id:
            kwargs["registryId"] = self.config.registry_id
        kwargs.setdefault("maxResults", self.page_size)
        method = getattr(self.client, operation)
        while True:
            page = self._call(operation, lambda kw=dict(kwargs): method(**kw))
            yield from page.get(key, ())
            token = page.get("nextToken")
            if not token:
                return
            kwargs["nextToken"] = token

    def _call(self, operation: str, call: Callable[[], Any]) -> Any:
        """Run one API call; turn every AWS/botocore failure into a ProviderError."""
        try:
            return call()
        except ClientError as exc:
            raise self._client_error(operation, exc) from None
        except NoCredentialsError:
            raise ProviderError(
                "No AWS credentials: enter an access key, or give this server an IAM role.",
                permanent=True,
            ) from None
        except (ConnectTimeoutError, ReadTimeoutError):
            raise ProviderError(
                f"Amazon ECR did not answer in time ({operation}); will retry."
            ) from None
        except EndpointConnectionError as exc:
            raise ProviderError(
                f"Cannot reach Amazon ECR at {exc.kwargs.get('endpoint_url', '?')}: check the "
                "region and this server's network access.",
            ) from None
        except BotoCoreError as exc:
            raise ProviderError(
                f"Amazon ECR call {operation} failed: {type(exc).__name__}."
            ) from None

    def _client_error(self, operation: str, exc: ClientError) -> ProviderError:
        error = exc.response.get("Error", {})
        code = error.get("Code", "")
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        action = IAM_ACTIONS.get(operation, operation)
        if code in _DENIED_CODES:
            return ProviderError(
                f"Access denied: allow the IAM action {action} to these credentials "
                f"(AWS said: {error.get('Message', code)}).",
                permanent=True,
            )
        if code in _AUTH_CODES:
            return ProviderError(
                "AWS rejected the credentials: check the access key ID and secret access key "
                f"({code}).",
                permanent=True,
            )
        if code in _NOT_FOUND_CODES:
            return ProviderError(
                f"Not found in Amazon ECR: {error.get('Message', code)}.", permanent=True
            )
        if code in _THROTTLE_CODES or status == 429 or status >= 500:
            return ProviderError(f"Amazon ECR is busy or failing ({code or status}); will retry.")
        return ProviderError(
            f"Amazon ECR call {action} failed: {code}: {error.get('Message', '')}", permanent=True
        )
