"""Fixtures for a real CNCF distribution registry (``/usr/bin/docker-registry``) on 127.0.0.1.

Fixtures (skipped with a reason when the binary is missing):

- ``registry``: session-scoped, htpasswd auth, plain http. Share it: use unique repository
  names (the ``repo_name`` fixture gives one per test).
- ``tls_registry``: session-scoped, htpasswd auth over https with a self-signed certificate
  (``.ca_file`` is the PEM to trust).
- ``token_registry``: session-scoped, Bearer token auth; ``.token_server`` is the tiny token
  service (``.requests`` records each token request, ``.deny`` holds repository names it grants
  nothing on, ``.expires_in`` sets token lifetimes).
- ``make_registry(tls=False, auth="htpasswd"|"token"|None)``: a fresh registry for this test
  (for catalog counts and anything that must not see other tests' repositories).
- ``fault_proxy``: a :class:`FaultProxy` on 127.0.0.1 in front of ``registry`` that forwards
  every request unless a rule answers it (errors, resets, stalls, redirects, bad content).

Push helpers live on :class:`LocalRegistry` (``push_image``, ``push_index``, ``push_blob``,
``push_blob_file``, ``push_manifest_raw``, ``set_push_time``, ``delete_tag``); the image parts
come from :mod:`tests.support.oci_images`.
"""

from __future__ import annotations

import atexit
import base64
import hashlib
import itertools
import json
import os
import shutil
import socket
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urljoin, urlsplit

import bcrypt
import jwt
import pytest
import requests

from tests.support.oci_images import (
    OCI_MANIFEST,
    BuiltImage,
    build_image,
    canonical_json,
    descriptor,
    digest_of,
    make_attestation,
    make_index,
)

__all__ = [
    "FaultProxy",
    "LocalRegistry",
    "ProxyRequest",
    "TokenServer",
    "free_port",
    "unique_repo",
    "write_answer",
]

REGISTRY_BIN = "/usr/bin/docker-registry"
SERVICE = "regscan-test-registry"
ISSUER = "regscan-test-issuer"
CHUNK = 4 * 1024 * 1024
_counter = itertools.count()


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def unique_repo(prefix: str = "repo") -> str:
    """Return a repository name no other test uses."""
    return f"{prefix}-{os.getpid()}-{next(_counter)}-{uuid.uuid4().hex[:6]}"


def make_cert(directory: Path, name: str) -> tuple[Path, Path]:
    """Make a self-signed certificate for 127.0.0.1/localhost with openssl; return (cert, key)."""
    cert, key = directory / f"{name}.pem", directory / f"{name}-key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-sha256", "-days", "7",
         "-keyout", str(key), "-out", str(cert), "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"],
        check=True, capture_output=True,
    )  # fmt: skip
    return cert, key


# --- Token service -------------------------------------------------------------------------


class TokenServer:
    """A token service for distribution's ``auth: token`` (docs: distribution "Token
    Authentication Specification"): ``GET /token?service=..&scope=..`` with Basic credentials
    answers ``{"token", "access_token", "expires_in", "issued_at"}``; the JWT is RS256 with an
    ``x5c`` header holding the certificate the registry trusts."""

    def __init__(self, directory: Path, users: dict[str, str]) -> None:
        self.users = users
        self.deny: set[str] = set()
        self.expires_in = 300
        self.requests: list[dict] = []
        self.cert, key = make_cert(directory, "token")
        self._key = key.read_bytes()
        pem = self.cert.read_text()
        der = base64.b64decode("".join(pem.strip().splitlines()[1:-1]))
        self._x5c = base64.b64encode(der).decode()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/token"
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), daemon=True
        )
        self._thread.start()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:  # keep test output quiet
                pass

            def do_GET(self) -> None:
                status, body = server.answer(self.path, self.headers.get("Authorization", ""))
                raw = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

        return Handler

    def answer(self, path: str, authorization: str) -> tuple[int, dict]:
        """Return (status, JSON body) for a token request."""
        query = parse_qs(urlsplit(path).query)
        scopes = [s for value in query.get("scope", []) for s in value.split(" ") if s]
        user = self._user(authorization)
        self.requests.append({"user": user, "scopes": scopes, "service": query.get("service")})
        if user is None:
            return 401, {"errors": [{"code": "UNAUTHORIZED", "message": "bad credentials"}]}
        return 200, self._issue(user, scopes)

    def _user(self, authorization: str) -> str | None:
        if not authorization.lower().startswith("basic "):
            return None
        try:
            username, _, password = base64.b64decode(authorization[6:]).decode().partition(":")
        except ValueError:
            return None
        return username if self.users.get(username) == password else None

    def _issue(self, user: str, scopes: list[str]) -> dict:
        access = []
        for scope in scopes:
            kind, _, rest = scope.partition(":")
            name, _, actions = rest.rpartition(":")
            granted = [] if name in self.deny else [a for a in actions.split(",") if a]
            access.append({"type": kind, "name": name, "actions": granted})
        now = int(time.time())
        claims = {
            "iss": ISSUER, "sub": user, "aud": SERVICE, "exp": now + self.expires_in,
            "nbf": now - 10, "iat": now, "jti": uuid.uuid4().hex, "access": access,
        }  # fmt: skip
        token = jwt.encode(claims, self._key, algorithm="RS256", headers={"x5c": [self._x5c]})
        issued = datetime.fromtimestamp(now, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        return {
            "token": token, "access_token": token,
            "expires_in": self.expires_in, "issued_at": issued,
        }  # fmt: skip

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


# --- The registry --------------------------------------------------------------------------


class LocalRegistry:
    """A running ``docker-registry`` on 127.0.0.1 with push helpers.

    ``auth`` is ``"htpasswd"`` (Basic), ``"token"`` (Bearer via :class:`TokenServer`) or None.
    """

    def __init__(self, directory: Path, *, tls: bool = False, auth: str | None = "htpasswd"):
        self.dir = directory
        self.dir.mkdir(parents=True, exist_ok=True)
        self.data_dir = directory / "data"
        self.tls = tls
        self.auth = auth
        self.username = "regscan" if auth else ""
        self.password = ("pw-" + uuid.uuid4().hex[:12]) if auth else ""
        self.ca_file: str | None = None
        self.token_server: TokenServer | None = None
        self.images: dict[str, BuiltImage] = {}  # manifest digest -> what was pushed
        self._proc: subprocess.Popen | None = None
        self._tokens: dict[str, str] = {}
        self.http = requests.Session()
        self.http.trust_env = False
        self._start()

    # Addresses and credentials --------------------------------------------------------------

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://{self.host}"

    @property
    def verify(self) -> bool | str:
        return self.ca_file if self.tls else True

    def pull_auth(self, **overrides):
        """Return an ``integrations.providers.base.PullAuth`` for this registry."""
        from integrations.crypto import Secret
        from integrations.providers.base import PullAuth

        values = {
            "base_url": self.url,
            "username": self.username,
            "password": Secret(self.password),
            "verify": self.verify,
        }
        values.update(overrides)
        return PullAuth(**values)

    def client(self, **kwargs):
        """Return a ``DistributionClient`` for this registry (keyword args go to it)."""
        from integrations.providers.distribution import DistributionClient

        return DistributionClient(self.pull_auth(), **kwargs)

    # Process ----------------------------------------------------------------------------------

    def _config(self) -> dict:
        http: dict = {"addr": self.host, "secret": "regscan-test"}
        if self.tls:
            cert, key = make_cert(self.dir, "registry")
            self.ca_file = str(cert)
            http["tls"] = {"certificate": str(cert), "key": str(key)}
        config: dict = {
            "version": 0.1,
            "log": {"level": "warn", "accesslog": {"disabled": True}},
            "storage": {
                "filesystem": {"rootdirectory": str(self.data_dir)},
                "delete": {"enabled": True},
            },
            "http": http,
        }
        if self.auth == "htpasswd":
            hashed = bcrypt.hashpw(self.password.encode(), bcrypt.gensalt(rounds=5)).decode()
            (self.dir / "htpasswd").write_text(f"{self.username}:{hashed}\n")
            config["auth"] = {"htpasswd": {"realm": "test", "path": str(self.dir / "htpasswd")}}
        elif self.auth == "token":
            self.token_server = TokenServer(self.dir, {self.username: self.password})
            config["auth"] = {
                "token": {
                    "realm": self.token_server.url,
                    "service": SERVICE,
                    "issuer": ISSUER,
                    "rootcertbundle": str(self.token_server.cert),
                }
            }
        elif self.auth is not None:
            raise ValueError(f"unknown auth {self.auth!r}")
        return config

    def _start(self) -> None:
        for _attempt in range(3):
            self.port = free_port()
            config_path = self.dir / "config.yml"
            config_path.write_text(json.dumps(self._config()))  # JSON is valid YAML
            log = open(self.dir / "registry.log", "ab")  # noqa: SIM115 (kept for the process)
            self._proc = subprocess.Popen(
                [REGISTRY_BIN, "serve", str(config_path)], stdout=log, stderr=log
            )
            log.close()
            atexit.register(self.stop)  # a session that dies early still stops its registry
            if self._wait_ready():
                return
            self.stop()
        raise RuntimeError(f"docker-registry did not start; see {self.dir / 'registry.log'}")

    def _wait_ready(self) -> bool:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                return False
            try:
                self.http.get(self.url + "/v2/", timeout=1, verify=self.verify)
                return True
            except requests.ConnectionError:
                time.sleep(0.05)
        return False

    def stop(self) -> None:
        """Stop the registry (by its PID) and the token service."""
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait(timeout=5)
        if self.token_server is not None:
            self.token_server.stop()
            self.token_server = None

    # Authenticated requests for pushing -------------------------------------------------------

    def _token(self, challenge: str, repo: str | None) -> str:
        scope = f"repository:{repo}:pull,push,delete" if repo else "registry:catalog:*"
        if scope not in self._tokens:
            params = dict(part.split("=", 1) for part in challenge[7:].split(","))
            params = {k.strip(): v.strip('"') for k, v in params.items()}
            answer = self.http.get(
                params["realm"],
                params={"service": params.get("service", ""), "scope": scope},
                auth=(self.username, self.password),
                timeout=10,
            )
            answer.raise_for_status()
            self._tokens[scope] = answer.json()["token"]
        return self._tokens[scope]

    def request(self, method: str, url: str, *, repo: str | None = None, **kwargs):
        """Send an authenticated request to the registry (``url`` may be a path)."""
        url = urljoin(self.url, url)
        kwargs.setdefault("timeout", 30)
        kwargs.setdefault("verify", self.verify)
        headers = dict(kwargs.pop("headers", {}) or {})
        if self.auth == "htpasswd":
            kwargs["auth"] = (self.username, self.password)
        elif self.auth == "token" and (repo or "_catalog" in url):
            headers["Authorization"] = "Bearer " + self._token(self._challenge(), repo)
        return self.http.request(method, url, headers=headers, **kwargs)

    def _challenge(self) -> str:
        return self.http.get(self.url + "/v2/", timeout=10, verify=self.verify).headers[
            "WWW-Authenticate"
        ]

    # Push helpers -----------------------------------------------------------------------------

    def _blob_exists(self, repo: str, digest: str) -> bool:
        return self.request("HEAD", f"/v2/{repo}/blobs/{digest}", repo=repo).status_code == 200

    def _start_upload(self, repo: str) -> str:
        answer = self.request("POST", f"/v2/{repo}/blobs/uploads/", repo=repo)
        assert answer.status_code == 202, (answer.status_code, answer.text)
        return urljoin(self.url, answer.headers["Location"])

    @staticmethod
    def _with_digest(location: str, digest: str) -> str:
        return location + ("&" if "?" in location else "?") + "digest=" + digest

    def push_blob(self, repo: str, data: bytes) -> str:
        """Upload ``data`` as a blob (monolithic PUT); return its digest."""
        digest = digest_of(data)
        if not self._blob_exists(repo, digest):
            location = self._start_upload(repo)
            answer = self.request(
                "PUT",
                self._with_digest(location, digest),
                repo=repo,
                data=data,
                headers={"Content-Type": "application/octet-stream"},
            )
            assert answer.status_code == 201, (answer.status_code, answer.text)
        return digest

    def push_blob_file(self, repo: str, path: str | Path, chunk_size: int = CHUNK) -> str:
        """Upload a file as a blob in chunked PATCHes (never whole in memory); return its digest."""
        hasher = hashlib.sha256()
        with open(path, "rb") as fh:
            for chunk in iter(lambda: fh.read(chunk_size), b""):
                hasher.update(chunk)
        digest = "sha256:" + hasher.hexdigest()
        if self._blob_exists(repo, digest):
            return digest
        location, offset = self._start_upload(repo), 0
        with open(path, "rb") as fh:
            for chunk in iter(lambda: fh.read(chunk_size), b""):
                answer = self.request(
                    "PATCH",
                    location,
                    repo=repo,
                    data=chunk,
                    headers={
                        "Content-Type": "application/octet-stream",
                        "Content-Range": f"{offset}-{offset + len(chunk) - 1}",
                    },
                )
                assert answer.status_code == 202, (answer.status_code, answer.text)
                location = urljoin(self.url, answer.headers["Location"])
                offset += len(chunk)
        answer = self.request("PUT", self._with_digest(location, digest), repo=repo)
        assert answer.status_code == 201, (answer.status_code, answer.text)
        return digest

    def push_manifest_raw(self, repo: str, ref: str, raw: bytes, media_type: str) -> str:
        """PUT ``raw`` as a manifest under ``ref``; return the digest of those exact bytes."""
        answer = self.request(
            "PUT",
            f"/v2/{repo}/manifests/{ref}",
            repo=repo,
            data=raw,
            headers={"Content-Type": media_type},
        )
        assert answer.status_code == 201, (answer.status_code, answer.text)
        return answer.headers.get("Docker-Content-Digest") or digest_of(raw)

    def push_built(self, repo: str, ref: str, image: BuiltImage) -> str:
        """Push a :class:`BuiltImage` (blobs, then manifest) under ``ref``; return its digest."""
        for data in image.blobs.values():
            self.push_blob(repo, data)
        digest = self.push_manifest_raw(repo, ref, image.manifest, image.media_type)
        self.images[digest] = image
        return digest

    def push_image(
        self,
        repo: str,
        tag: str,
        layers: list[bytes],
        *,
        config: dict | None = None,
        platform: str = "linux/amd64",
        media: str = "oci",
        compression: str = "gzip",
        created: datetime | None = None,
        annotations: dict | None = None,
    ) -> str:
        """Build and push an image from uncompressed tar ``layers``; return the manifest digest.

        ``registry.images[digest]`` keeps the :class:`BuiltImage` (layer digests, config)."""
        image = build_image(
            layers,
            config=config,
            platform=platform,
            media=media,
            compression=compression,
            created=created,
            annotations=annotations,
        )
        return self.push_built(repo, tag, image)

    def push_index(
        self,
        repo: str,
        tag: str,
        images: list[dict],
        *,
        media: str = "oci",
        attestation: bool = False,
        compression: str = "gzip",
    ) -> str:
        """Push one image per entry (``platform``, ``layers``, optional ``config``/``created``)
        and an index (``oci``) or manifest list (``docker``) of them; return the index digest.

        ``attestation=True`` adds a BuildKit-style attestation manifest (``unknown/unknown``)
        for the first image."""
        descriptors = []
        for entry in images:
            built = build_image(
                entry["layers"],
                config=entry.get("config"),
                platform=entry["platform"],
                media=media,
                compression=compression,
                created=entry.get("created"),
            )
            self.push_built(repo, built.digest, built)
            descriptors.append(
                descriptor(built.media_type, built.manifest, platform=entry["platform"])
            )
        if attestation:
            att = make_attestation(descriptors[0]["digest"])
            self.push_built(repo, att.digest, att)
            descriptors.append(
                descriptor(
                    OCI_MANIFEST,
                    att.manifest,
                    platform="unknown/unknown",
                    annotations={
                        "vnd.docker.reference.type": "attestation-manifest",
                        "vnd.docker.reference.digest": descriptors[0]["digest"],
                    },
                )
            )
        index = make_index(descriptors, media=media)
        return self.push_manifest_raw(repo, tag, canonical_json(index), index["mediaType"])

    # On-disk facts ----------------------------------------------------------------------------

    def _tag_dir(self, repo: str, tag: str) -> Path:
        return self.data_dir / "docker/registry/v2/repositories" / repo / "_manifests/tags" / tag

    def set_push_time(self, repo: str, tag: str, when: datetime) -> None:
        """Set the tag's push time on disk (mtime of ``tags/<tag>/current/link``)."""
        ts = when.timestamp()
        os.utime(self._tag_dir(repo, tag) / "current" / "link", (ts, ts))

    def delete_tag(self, repo: str, tag: str) -> None:
        """Remove ``tag`` (on disk: distribution 2.8's API deletes manifests, not tags)."""
        shutil.rmtree(self._tag_dir(repo, tag))


# --- A misbehaving stand-in in front of the registry -------------------------------------------


@dataclass
class ProxyRequest:
    """What the :class:`FaultProxy` received (``headers`` keep their original case)."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes = b""


# A rule's answer: (status, headers, body), or a callable that writes to the handler itself
# (to reset the connection or stall), or None to forward the request to the registry.
Answer = tuple[int, dict, bytes] | Callable[[BaseHTTPRequestHandler], None] | None


class FaultProxy:
    """An HTTP server on 127.0.0.1 that forwards to a :class:`LocalRegistry` unless a rule
    answers first. ``rules`` are tried in order; ``seen`` records every request.

    ``proxy.fail("GET", "/manifests/", 500, times=1)`` answers 500 once, then forwards."""

    def __init__(self, upstream: LocalRegistry) -> None:
        self.upstream = upstream
        self.rules: list[Callable[[ProxyRequest], Answer]] = []
        self.seen: list[ProxyRequest] = []
        self._http = requests.Session()
        self._http.trust_env = False
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True).start()

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.host}"

    def pull_auth(self, **overrides):
        return self.upstream.pull_auth(**{"base_url": self.url, "verify": True, **overrides})

    def client(self, **kwargs):
        from integrations.providers.distribution import DistributionClient

        return DistributionClient(self.pull_auth(), **kwargs)

    def add(self, rule: Callable[[ProxyRequest], Answer]) -> None:
        self.rules.append(rule)

    def fail(
        self,
        method: str,
        path_part: str,
        status: int,
        *,
        times: int = 1,
        headers: dict | None = None,
        body: bytes = b"",
    ) -> None:
        """Answer ``status`` to the next ``times`` ``method`` requests whose path holds
        ``path_part``."""
        left = [times]

        def rule(req: ProxyRequest) -> Answer:
            if req.method == method and path_part in req.path and left[0] > 0:
                left[0] -= 1
                return status, dict(headers or {}), body
            return None

        self.add(rule)

    def forward(self, req: ProxyRequest) -> tuple[int, dict, bytes]:
        """Send ``req`` to the registry; return (status, headers, body)."""
        headers = {k: v for k, v in req.headers.items() if k.lower() not in ("host", "connection")}
        resp = self._http.request(
            req.method,
            self.upstream.url + req.path,
            headers=headers,
            data=req.body or None,
            allow_redirects=False,
            timeout=30,
            verify=self.upstream.verify,
        )
        out = {
            k: v
            for k, v in resp.headers.items()
            if k.lower() not in ("connection", "transfer-encoding", "content-length")
        }
        length = resp.headers.get("Content-Length", str(len(resp.content)))
        out["Content-Length"] = length if req.method == "HEAD" else str(len(resp.content))
        return resp.status_code, out, resp.content

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                req = ProxyRequest(
                    self.command, self.path, dict(self.headers.items()), self.rfile.read(length)
                )
                proxy.seen.append(req)
                answer = None
                for rule in list(proxy.rules):
                    answer = rule(req)
                    if answer is not None:
                        break
                if callable(answer):
                    answer(self)
                    return
                status, headers, body = answer if answer is not None else proxy.forward(req)
                write_answer(self, status, headers, b"" if self.command == "HEAD" else body)

            do_GET = do_HEAD = do_PUT = do_POST = do_PATCH = do_DELETE = _handle

        return Handler

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def write_answer(handler: BaseHTTPRequestHandler, status: int, headers: dict, body: bytes) -> None:
    """Write a whole HTTP answer; ``Content-Length`` defaults to the body's length."""
    try:
        handler.send_response(status)
        for key, value in headers.items():
            handler.send_header(key, value)
        if not any(k.lower() == "content-length" for k in headers):
            handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)
    except (BrokenPipeError, ConnectionResetError):
        pass  # the client gave up (a timeout test): nothing to do


# --- Fixtures ------------------------------------------------------------------------------


def _require_binary() -> None:
    if not os.path.exists(REGISTRY_BIN):
        pytest.skip(
            f"{REGISTRY_BIN} is missing: install the Debian package docker-registry "
            "(apt-get install docker-registry)"
        )


class _Registries:
    """Starts registries under one base directory and stops them all at teardown."""

    def __init__(self, base: Path) -> None:
        self.base = base
        self.started: list[LocalRegistry] = []

    def __call__(self, *, tls: bool = False, auth: str | None = "htpasswd") -> LocalRegistry:
        _require_binary()
        directory = self.base / f"registry-{len(self.started)}-{uuid.uuid4().hex[:6]}"
        reg = LocalRegistry(directory, tls=tls, auth=auth)
        self.started.append(reg)
        return reg

    def stop_all(self) -> None:
        for reg in self.started:
            reg.stop()


@pytest.fixture(scope="session")
def _session_registries(tmp_path_factory) -> Iterator[_Registries]:
    registries = _Registries(tmp_path_factory.mktemp("registries"))
    yield registries
    registries.stop_all()


@pytest.fixture(scope="session")
def registry(_session_registries) -> LocalRegistry:
    """A shared htpasswd registry over plain http (use unique repository names)."""
    return _session_registries(tls=False, auth="htpasswd")


@pytest.fixture(scope="session")
def tls_registry(_session_registries) -> LocalRegistry:
    """A shared htpasswd registry over https with a self-signed certificate (``.ca_file``)."""
    return _session_registries(tls=True, auth="htpasswd")


@pytest.fixture(scope="session")
def token_registry(_session_registries) -> LocalRegistry:
    """A shared registry with Bearer token auth (``.token_server`` records token requests)."""
    return _session_registries(tls=False, auth="token")


@pytest.fixture
def make_registry(tmp_path) -> Iterator[_Registries]:
    """Factory of fresh registries for this test: ``make_registry(tls=..., auth=...)``."""
    registries = _Registries(tmp_path)
    yield registries
    registries.stop_all()


@pytest.fixture
def repo_name() -> str:
    """A repository name no other test uses."""
    return unique_repo()


@pytest.fixture
def fault_proxy(registry) -> Iterator[FaultProxy]:
    """A :class:`FaultProxy` in front of the shared ``registry`` (no rules yet)."""
    proxy = FaultProxy(registry)
    yield proxy
    proxy.stop()
