"""Amazon ECR provider: the ECR API on moto's server, pulls from the real local registry with the
ECR authorization token, and unit tests with the boto3 client swapped (botocore's Stubber checks
every request and response against the ECR service model)."""

from __future__ import annotations

from datetime import UTC, datetime

import boto3
import pytest
import requests
from botocore.exceptions import ReadTimeoutError
from botocore.stub import Stubber

from integrations.crypto import Secret
from integrations.providers.base import ProviderConfig, ProviderError
from integrations.providers.ecr import EcrProvider
from tests.support.oci_images import make_layer
from tests.support.standins import assert_pulls, start_registry

ACCOUNT = "123456789012"  # moto's default account
REGION = "eu-west-1"
SECRET_KEY = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
PUSHED = {
    "1.0": datetime(2024, 1, 1, 8, 0, tzinfo=UTC),
    "1.1": datetime(2024, 2, 1, 8, 0, tzinfo=UTC),
}


@pytest.fixture(scope="session")
def moto_server():
    """moto's ECR/STS server in this process, on 127.0.0.1 (its backends are shared with us)."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture(scope="module")
def moto_url(moto_server):
    """The moto server, emptied for this module (its tests only read what ``ecr`` puts there)."""
    requests.post(f"{moto_server}/moto-api/reset", timeout=10)
    return moto_server


def make_provider(moto_url: str, **overrides) -> EcrProvider:
    values = {
        "region": REGION,
        "username": "AKIAIOSFODNN7EXAMPLE",
        "secret": Secret(SECRET_KEY),
        "api_endpoint": moto_url,
        "timeout": 5.0,
    }
    values.update(overrides)
    return EcrProvider(ProviderConfig(**values))


def admin_client(moto_url: str):
    return boto3.client(
        "ecr",
        endpoint_url=moto_url,
        region_name=REGION,
        aws_access_key_id="x",
        aws_secret_access_key="x",
    )


def publish(moto_url: str, registry, repo: str, tag: str, digest: str) -> None:
    """Record in moto's ECR an image that was pushed to the real registry."""
    image = registry.images[digest]
    admin_client(moto_url).put_image(
        repositoryName=repo,
        imageManifest=image.manifest.decode(),
        imageManifestMediaType=image.media_type,
        imageTag=tag,
        imageDigest=digest,
    )


def set_pushed_at(repo: str, digest: str, when: datetime) -> None:
    """moto only lets imagePushedAt be set in-process (TOOLCHAIN.md)."""
    from moto.ecr.models import ecr_backends

    for image in ecr_backends[ACCOUNT][REGION].repositories[repo].images:
        if image.image_digest == digest:
            image.image_pushed_at = int(when.timestamp())


@pytest.fixture(scope="module")
def ecr(moto_url, tmp_path_factory):
    """ECR (moto) with repositories app (1.0; 1.1 also tagged latest) and web; the images live in
    a real token-auth registry that accepts moto's authorization token (user AWS)."""
    registry = start_registry(tmp_path_factory.mktemp("ecr-registry"), auth="token")
    registry.token_server.users["AWS"] = f"{ACCOUNT}-auth-token"
    admin = admin_client(moto_url)
    for repo in ("app", "web"):
        admin.create_repository(repositoryName=repo)
    digests = {}
    for tag, when in PUSHED.items():
        digests[tag] = registry.push_image("app", tag, [make_layer({"v": tag.encode()})])
        publish(moto_url, registry, "app", tag, digests[tag])
        set_pushed_at("app", digests[tag], when)
    registry.push_manifest_raw(
        "app",
        "latest",
        registry.images[digests["1.1"]].manifest,
        registry.images[digests["1.1"]].media_type,
    )
    publish(moto_url, registry, "app", "latest", digests["1.1"])
    yield registry, digests
    registry.stop()


@pytest.mark.slow
def test_it_lists_repositories_and_one_tag_info_per_tag(ecr, moto_url):
    _registry, digests = ecr
    provider = make_provider(moto_url)

    assert sorted(provider.repositories()) == ["app", "web"]
    tags = {t.tag: (t.digest, t.pushed_at) for t in provider.tags("app")}

    assert tags == {
        "1.0": (digests["1.0"], PUSHED["1.0"]),
        "1.1": (digests["1.1"], PUSHED["1.1"]),
        "latest": (digests["1.1"], PUSHED["1.1"]),
    }


@pytest.mark.slow
def test_it_pulls_from_the_registry_with_the_ecr_token(ecr, moto_url):
    registry, digests = ecr
    provider = make_provider(moto_url, registry_endpoint=registry.url, registry_id=ACCOUNT)

    auth = provider.pull_auth()
    assert (auth.username, auth.password.reveal()) == ("AWS", f"{ACCOUNT}-auth-token")
    assert assert_pulls(provider, "app", "1.0", registry) == digests["1.0"]
    assert any(r["user"] == "AWS" for r in registry.token_server.requests)


@pytest.mark.slow
def test_check_passes_against_the_api_and_the_registry(ecr, moto_url):
    registry, _digests = ecr
    make_provider(moto_url, registry_endpoint=registry.url).check()


@pytest.mark.slow
def test_it_assumes_the_role_with_the_external_id(ecr, moto_url):
    from moto.sts.models import sts_backends

    role = f"arn:aws:iam::{ACCOUNT}:role/regscan-reader"
    provider = make_provider(moto_url, role_arn=role, external_id="ext-42")

    assert sorted(provider.repositories()) == ["app", "web"]
    assumed = [r for backend in sts_backends[ACCOUNT].values() for r in backend.assumed_roles]
    assert [(r.role_arn, r.external_id) for r in assumed][-1] == (role, "ext-42")
    assert provider.client._request_signer._credentials.access_key == assumed[-1].access_key_id


@pytest.mark.slow
def test_an_unknown_repository_is_a_permanent_not_found(ecr, moto_url):
    with pytest.raises(ProviderError) as caught:
        list(make_provider(moto_url).tags("nope"))

    assert caught.value.permanent
    assert "nope" in caught.value.message


# ---- unit tests: the boto3 client swapped (Stubber) ------------------------------------------


@pytest.fixture
def stubbed():
    """A provider whose ``client`` is a real ECR client under botocore's Stubber."""
    client = boto3.client(
        "ecr", region_name=REGION, aws_access_key_id="x", aws_secret_access_key="x"
    )
    provider = EcrProvider(
        ProviderConfig(
            region=REGION, username="AKIAEXAMPLE", secret=Secret(SECRET_KEY), registry_id=ACCOUNT
        )
    )
    provider.client = client
    with Stubber(client) as stub:
        yield provider, stub
        stub.assert_no_pending_responses()


def repo_entry(name: str) -> dict:
    return {
        "repositoryName": name,
        "registryId": ACCOUNT,
        "repositoryArn": f"arn:aws:ecr:{REGION}:{ACCOUNT}:repository/{name}",
    }


def test_it_follows_next_tokens(stubbed):
    provider, stub = stubbed
    provider.page_size = 1
    base = {"registryId": ACCOUNT, "maxResults": 1}
    stub.add_response(
        "describe_repositories", {"repositories": [repo_entry("alpha")], "nextToken": "t1"}, base
    )
    stub.add_response(
        "describe_repositories", {"repositories": [repo_entry("beta")]}, {**base, "nextToken": "t1"}
    )
    image = {
        "imageDigest": "sha256:" + "b" * 64,
        "imageTags": ["v2", "stable"],
        "imagePushedAt": PUSHED["1.1"],
    }
    images = {
        "registryId": ACCOUNT,
        "maxResults": 1,
        "repositoryName": "alpha",
        "filter": {"tagStatus": "TAGGED"},
    }
    stub.add_response(
        "describe_images",
        {
            "imageDetails": [
                {
                    "imageDigest": "sha256:" + "a" * 64,
                    "imageTags": ["v1"],
                    "imagePushedAt": PUSHED["1.0"],
                }
            ],
            "nextToken": "i1",
        },
        images,
    )
    stub.add_response("describe_images", {"imageDetails": [image]}, {**images, "nextToken": "i1"})

    assert list(provider.repositories()) == ["alpha", "beta"]
    tags = [(t.tag, t.pushed_at) for t in provider.tags("alpha")]

    assert tags == [("v1", PUSHED["1.0"]), ("v2", PUSHED["1.1"]), ("stable", PUSHED["1.1"])]


def test_access_denied_names_the_missing_iam_action(stubbed):
    provider, stub = stubbed
    stub.add_response("describe_repositories", {"repositories": [repo_entry("app")]})
    stub.add_client_error(
        "describe_images",
        service_error_code="AccessDeniedException",
        service_message=(
            f"User: arn:aws:iam::{ACCOUNT}:user/scanner is not authorized to perform: "
            f"ecr:DescribeImages on resource: arn:aws:ecr:{REGION}:{ACCOUNT}:repository/app "
            "because no identity-based policy allows the ecr:DescribeImages action"
        ),
        http_status_code=400,
    )

    with pytest.raises(ProviderError) as caught:
        provider.check()

    assert caught.value.permanent
    assert "allow the IAM action ecr:DescribeImages" in caught.value.message


def test_invalid_credentials_are_a_clear_permanent_error(stubbed):
    provider, stub = stubbed
    stub.add_client_error(
        "describe_repositories",
        service_error_code="UnrecognizedClientException",
        service_message="The security token included in the request is invalid.",
        http_status_code=400,
    )

    with pytest.raises(ProviderError) as caught:
        list(provider.repositories())

    assert caught.value.permanent
    assert "access key ID and secret access key" in caught.value.message
    assert SECRET_KEY not in str(caught.value)


def test_throttling_is_transient(stubbed):
    provider, stub = stubbed
    stub.add_client_error(
        "describe_images",
        service_error_code="ThrottlingException",
        service_message="Rate exceeded",
        http_status_code=400,
    )

    with pytest.raises(ProviderError) as caught:
        list(provider.tags("app"))

    assert not caught.value.permanent


def test_a_timeout_is_transient(stubbed):
    provider, _stub = stubbed

    def timeout(**kwargs):
        raise ReadTimeoutError(endpoint_url="https://api.ecr.eu-west-1.amazonaws.com/")

    provider.client.describe_repositories = timeout

    with pytest.raises(ProviderError) as caught:
        list(provider.repositories())

    assert not caught.value.permanent
    assert "did not answer in time" in caught.value.message


def test_pull_auth_decodes_the_token_for_the_ecr_host(stubbed):
    provider, stub = stubbed
    token = "QVdTOnNlY3JldC1wYXNzd29yZA=="  # base64 of AWS:secret-password
    stub.add_response(
        "get_authorization_token",
        {
            "authorizationData": [
                {
                    "authorizationToken": token,
                    "proxyEndpoint": f"https://{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com",
                    "expiresAt": PUSHED["1.0"],
                }
            ]
        },
        {"registryIds": [ACCOUNT]},
    )

    auth = provider.pull_auth()

    assert auth.base_url == f"https://{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com"
    assert (auth.username, auth.password.reveal()) == ("AWS", "secret-password")
    assert "secret-password" not in repr(auth)


def test_an_unknown_region_is_named():
    provider = EcrProvider(ProviderConfig(region="mars-north-1"))

    with pytest.raises(ProviderError, match="Unknown AWS region 'mars-north-1'") as caught:
        provider.check()

    assert caught.value.permanent


def test_it_declares_its_fields():
    assert EcrProvider.secret_fields() == ("secret",)
    assert "ecr:DescribeImages" in EcrProvider.prerequisites


@pytest.mark.slow
def test_a_rescan_lists_tags_with_one_api_request(ecr, moto_url):
    _registry, digests = ecr
    provider = make_provider(moto_url)
    sent = []
    provider.client.meta.events.register(
        "before-send.ecr", lambda request, **_: sent.append(request.headers["X-Amz-Target"])
    )

    tags = list(provider.tags("app"))

    assert [target.decode() if isinstance(target, bytes) else target for target in sent] == [
        "AmazonEC2ContainerRegistry_V20150921.DescribeImages"
    ]
    assert {t.tag: t.digest for t in tags} == {**digests, "latest": digests["1.1"]}


def test_an_access_key_without_its_secret_is_refused():
    provider = EcrProvider(ProviderConfig(region=REGION, username="AKIAIOSFODNN7EXAMPLE"))

    with pytest.raises(ProviderError, match="secret access key") as caught:
        list(provider.repositories())

    assert caught.value.permanent


@pytest.mark.slow
def test_ambient_credentials_are_used_without_an_access_key(ecr, moto_url, monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAAMBIENTEXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "ambient-secret")
    provider = make_provider(moto_url, username="", secret=Secret(""))

    assert sorted(provider.repositories()) == ["app", "web"]
    assert provider._session().get_credentials().access_key == "AKIAAMBIENTEXAMPLE"
