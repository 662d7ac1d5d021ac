"""Stand-in servers for the vendors' listing APIs, in front of a real local ``docker-registry``.

Each stand-in answers the documented endpoints, auth flows and JSON shapes of one vendor (the
sources are cited on each class) and reads its data from the real registry behind it: the
catalog, tags and manifest digests over the Distribution API, push dates from the registry's
disk (the mtime that ``LocalRegistry.set_push_time`` sets). ``/v2/`` requests are checked with
the vendor's auth and proxied to the real registry, so pulls move real bytes.

Every stand-in records ``requests`` and can inject faults: ``fail(match, status, times=1,
headers=None, delay=0)`` answers the next ``times`` requests whose path contains ``match`` with
``status`` (after ``delay`` seconds; a ``status`` of 0 only delays, for timeouts).

Fixtures: ``acr_standin``, ``hub_standin``, ``artifactory_standin`` (factories taking a
``LocalRegistry``), all stopped at teardown.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import ssl
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, quote, unquote, urlencode, urlsplit

import pytest
import requests

from tests.support.registry import REGISTRY_BIN, LocalRegistry, make_cert

__all__ = [
    "AcrStandIn",
    "ArtifactoryStandIn",
    "FakeSession",
    "HubStandIn",
    "Reply",
    "StandIn",
    "assert_pulls",
    "json_response",
    "start_registry",
]

MANIFEST_ACCEPT = ", ".join(
    [
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.docker.distribution.manifest.v2+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
    ]
)
INDEX_TYPES = {
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
}


@dataclass
class Reply:
    status: int
    body: bytes | dict | list = b""
    headers: dict[str, str] = field(default_factory=dict)

    def raw(self) -> bytes:
        if isinstance(self.body, bytes):
            return self.body
        return json.dumps(self.body).encode()


@dataclass
class Request:
    method: str
    path: str  # with the query string
    headers: dict[str, str]
    body: bytes

    @property
    def route(self) -> str:
        return unquote(urlsplit(self.path).path)

    @property
    def query(self) -> dict[str, str]:
        return {k: v[-1] for k, v in parse_qs(urlsplit(self.path).query).items()}

    def form(self) -> dict[str, str]:
        return {k: v[-1] for k, v in parse_qs(self.body.decode()).items()}

    def basic(self) -> tuple[str, str] | None:
        value = self.headers.get("authorization", "")
        if not value.lower().startswith("basic "):
            return None
        user, _, password = base64.b64decode(value[6:]).decode().partition(":")
        return user, password

    def bearer(self) -> str | None:
        value = self.headers.get("authorization", "")
        return value[7:] if value.lower().startswith("bearer ") else None


@dataclass
class _Fault:
    match: str
    status: int
    times: int
    headers: dict[str, str]
    delay: float


class RegistryView:
    """Reads what a vendor API would report from the real registry behind the stand-in."""

    def __init__(self, registry: LocalRegistry) -> None:
        self.registry = registry

    def repositories(self) -> list[str]:
        names, url = [], "/v2/_catalog?n=1000"
        while url:
            answer = self.registry.request("GET", url)
            names += answer.json().get("repositories") or []
            url = answer.links.get("next", {}).get("url", "")
        return sorted(names)

    def tags(self, repo: str) -> list[str] | None:
        answer = self.registry.request("GET", f"/v2/{repo}/tags/list", repo=repo)
        return None if answer.status_code == 404 else sorted(answer.json().get("tags") or [])

    def manifest_head(self, repo: str, tag: str) -> tuple[str, str]:
        """(digest, media type) of ``repo:tag``."""
        answer = self.registry.request(
            "HEAD", f"/v2/{repo}/manifests/{tag}", repo=repo, headers={"Accept": MANIFEST_ACCEPT}
        )
        return answer.headers["Docker-Content-Digest"], answer.headers.get("Content-Type", "")

    def pushed_at(self, repo: str, tag: str) -> datetime:
        link = (
            Path(self.registry.data_dir)
            / "docker/registry/v2/repositories"
            / repo
            / "_manifests/tags"
            / tag
            / "current/link"
        )
        return datetime.fromtimestamp(link.stat().st_mtime, UTC)

    def proxy(self, request: Request) -> Reply:
        """Forward a ``/v2/`` request to the real registry with its own credentials."""
        headers = {k: v for k, v in request.headers.items() if k in ("accept", "range")}
        answer = self.registry.request(
            request.method, request.path, headers=headers, data=request.body or None
        )
        keep = ("content-type", "docker-content-digest", "location", "link", "etag")
        reply_headers = {k: v for k, v in answer.headers.items() if k.lower() in keep}
        if request.method == "HEAD":
            reply_headers["Content-Length"] = answer.headers.get("Content-Length", "0")
        return Reply(answer.status_code, answer.content, reply_headers)


def _cert(directory: Path, name: str) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1, made once per directory (openssl takes ~0.5 s)."""
    cert, key = directory / f"{name}.pem", directory / f"{name}-key.pem"
    if cert.exists() and key.exists():
        return cert, key
    return make_cert(directory, name)


def iso(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class StandIn:
    """A threaded HTTP(S) server on 127.0.0.1 with a request log and fault injection."""

    def __init__(self, registry: LocalRegistry, *, tls_dir: Path | None = None) -> None:
        self.view = RegistryView(registry)
        self.requests: list[Request] = []
        self._faults: list[_Fault] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.ca_file: str | None = None
        if tls_dir is not None:
            cert, key = _cert(tls_dir, type(self).__name__.lower())
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(cert, key)
            self._server.socket = context.wrap_socket(self._server.socket, server_side=True)
            self.ca_file = str(cert)
        self.host = f"127.0.0.1:{self._server.server_address[1]}"
        self.url = f"{'https' if tls_dir else 'http'}://{self.host}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def fail(
        self,
        match: str,
        status: int,
        *,
        times: int = 1,
        headers: dict[str, str] | None = None,
        delay: float = 0.0,
    ) -> None:
        with self._lock:
            self._faults.append(_Fault(match, status, times, dict(headers or {}), delay))

    def paths(self, contains: str = "") -> list[str]:
        return [r.path for r in self.requests if contains in r.path]

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    # ---- dispatch -----------------------------------------------------------------------------

    def route(self, request: Request) -> Reply:  # pragma: no cover - subclasses answer
        raise NotImplementedError

    def _answer(self, request: Request) -> Reply:
        self.requests.append(request)
        fault = self._take_fault(request.path)
        if fault is not None:
            time.sleep(fault.delay)
            if fault.status:
                return Reply(fault.status, {"errors": [{"message": "injected"}]}, fault.headers)
        try:
            return self.route(request)
        except Exception as exc:  # keep the server alive; show the cause to the test
            return Reply(500, {"errors": [{"message": f"stand-in bug: {exc!r}"}]})

    def _take_fault(self, path: str) -> _Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.match in path and fault.times > 0:
                    fault.times -= 1
                    return fault
        return None

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        standin = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:
                pass

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                headers = {k.lower(): v for k, v in self.headers.items()}
                reply = standin._answer(Request(self.command, self.path, headers, body))
                raw = reply.raw()
                try:
                    self.send_response(reply.status)
                    if not isinstance(reply.body, bytes):
                        self.send_header("Content-Type", "application/json")
                    for key, value in reply.headers.items():
                        self.send_header(key, value)
                    if "Content-Length" not in reply.headers:
                        self.send_header("Content-Length", str(len(raw)))
                    self.end_headers()
                    if self.command != "HEAD":
                        self.wfile.write(raw)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (a timeout test)

            do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = _serve

        return Handler


class TokenMixin:
    """Opaque bearer tokens handed out by a stand-in's token endpoint."""

    def _init_tokens(self) -> None:
        self.tokens: set[str] = set()

    def issue(self) -> str:
        token = secrets.token_urlsafe(24)
        self.tokens.add(token)
        return token


# ---- Azure Container Registry ------------------------------------------------------------------


class AcrStandIn(TokenMixin, StandIn):
    """ACR data-plane REST API (https://learn.microsoft.com/rest/api/containerregistry/):

    - ``POST /oauth2/exchange`` (grant_type=access_token, service, access_token) ->
      ``{"refresh_token"}`` (Refresh Tokens - Get From Exchange; AAD-OAuth.html),
    - ``POST /oauth2/token`` (grant_type=refresh_token, service, scope, refresh_token) and
      ``GET /oauth2/token?service=&scope=`` with Basic -> ``{"access_token"}`` (Access Tokens -
      Get / Get From Login; Token-BasicAuth.html),
    - ``GET /acr/v1/_catalog?n=&last=`` -> ``{"repositories"}`` with a ``Link`` rel="next"
      (Repository - Get List),
    - ``GET /acr/v1/{name}/_tags?n=&last=&orderby=`` -> ``{"registry", "imageName", "tags":
      [{"name", "digest", "createdTime", "lastUpdateTime", ...}]}`` (Tag - Get List),
    - ``/v2/`` with a bearer token from the token endpoint (401 + ``WWW-Authenticate: Bearer
      realm=".../oauth2/token",service=...,scope=...`` otherwise).

    ``aad_tokens``: Entra ID access tokens the exchange accepts; ``users``: ACR tokens
    (name -> password) for Basic; ``denied``: repositories whose tags answer 403."""

    NULL_USER = "00000000-0000-0000-0000-000000000000"

    def __init__(self, registry: LocalRegistry, tls_dir: Path) -> None:
        self._init_tokens()
        self.aad_tokens: set[str] = set()
        self.users: dict[str, str] = {}
        self.refresh_tokens: set[str] = set()
        self.denied: set[str] = set()
        super().__init__(registry, tls_dir=tls_dir)

    def challenge(self, scope: str) -> Reply:
        header = f'Bearer realm="{self.url}/oauth2/token",service="{self.host}",scope="{scope}"'
        body = {"errors": [{"code": "UNAUTHORIZED", "message": "authentication required"}]}
        return Reply(401, body, {"WWW-Authenticate": header})

    def route(self, request: Request) -> Reply:
        route = request.route
        if route == "/oauth2/exchange" and request.method == "POST":
            return self._exchange(request.form())
        if route == "/oauth2/token":
            return self._token(request)
        scope = self._scope(route)
        if not self._authorized(request):
            return self.challenge(scope)
        if route == "/acr/v1/_catalog":
            return self._catalog(request.query)
        if route.startswith("/acr/v1/") and route.endswith("/_tags"):
            return self._tags(route[len("/acr/v1/") : -len("/_tags")], request.query)
        if route.startswith("/v2/"):
            return self.view.proxy(request)
        return Reply(404, {"errors": [{"code": "NOT_FOUND", "message": route}]})

    def _scope(self, route: str) -> str:
        if route.startswith("/acr/v1/") and route.endswith("/_tags"):
            return f"repository:{route[8:-6]}:metadata_read"
        if route.startswith("/v2/") and ("/manifests/" in route or "/blobs/" in route):
            name = route[4:].rsplit("/manifests/" if "/manifests/" in route else "/blobs/", 1)[0]
            return f"repository:{name}:pull"
        return "registry:catalog:*"

    def _authorized(self, request: Request) -> bool:
        basic = request.basic()
        if basic and self.users.get(basic[0]) == basic[1]:
            return True
        return request.bearer() in self.tokens

    def _exchange(self, form: dict[str, str]) -> Reply:
        if (
            form.get("grant_type") != "access_token"
            or form.get("access_token") not in self.aad_tokens
        ):
            return Reply(401, {"errors": [{"code": "UNAUTHORIZED", "message": "bad AAD token"}]})
        refresh = secrets.token_urlsafe(24)
        self.refresh_tokens.add(refresh)
        return Reply(200, {"refresh_token": refresh})

    def _token(self, request: Request) -> Reply:
        ok = False
        if request.method == "POST":
            form = request.form()
            ok = (
                form.get("grant_type") == "refresh_token"
                and form.get("refresh_token") in self.refresh_tokens
            )
        else:
            basic = request.basic()
            if basic:
                user, password = basic
                ok = self.users.get(user) == password or (
                    user == self.NULL_USER and password in self.refresh_tokens
                )
        if not ok:
            return Reply(401, {"errors": [{"code": "UNAUTHORIZED", "message": "bad credentials"}]})
        return Reply(200, {"access_token": self.issue()})

    def _page(self, items: list[str], query: dict[str, str], base: str) -> tuple[list, dict]:
        n = int(query.get("n") or 100)
        last = query.get("last")
        start = items.index(last) + 1 if last in items else 0
        page = items[start : start + n]
        headers = {}
        if start + n < len(items):
            params = {k: v for k, v in query.items() if k not in ("last", "n")}
            params.update({"last": page[-1], "n": str(n)})
            headers["Link"] = f'<{base}?{urlencode(params)}>; rel="next"'
        return page, headers

    def _catalog(self, query: dict[str, str]) -> Reply:
        page, headers = self._page(self.view.repositories(), query, "/acr/v1/_catalog")
        return Reply(200, {"repositories": page}, headers)

    def _tags(self, repo: str, query: dict[str, str]) -> Reply:
        if repo in self.denied:
            return Reply(
                403,
                {
                    "errors": [
                        {"code": "DENIED", "message": "requested access to the resource is denied"}
                    ]
                },
            )
        names = self.view.tags(repo)
        if names is None:
            return Reply(
                404,
                {
                    "errors": [
                        {"code": "NAME_UNKNOWN", "message": "repository name not known to registry"}
                    ]
                },
            )
        when = {tag: self.view.pushed_at(repo, tag) for tag in names}
        if query.get("orderby") == "timedesc":
            names.sort(key=lambda tag: (when[tag], tag), reverse=True)
        page, headers = self._page(names, query, f"/acr/v1/{quote(repo, safe='')}/_tags")
        tags = [self._tag(repo, tag, when[tag]) for tag in page]
        body = {"registry": self.host, "imageName": repo, "tags": tags}
        return Reply(200, body, headers)

    def _tag(self, repo: str, tag: str, when: datetime) -> dict:
        digest, _ = self.view.manifest_head(repo, tag)
        return {
            "name": tag,
            "digest": digest,
            "createdTime": iso(when),
            "lastUpdateTime": iso(when),
            "signed": False,
            "changeableAttributes": {
                "deleteEnabled": True,
                "writeEnabled": True,
                "readEnabled": True,
                "listEnabled": True,
            },
        }


# ---- Docker Hub --------------------------------------------------------------------------------


class HubStandIn(TokenMixin, StandIn):
    """Docker Hub API (https://docs.docker.com/reference/api/hub/latest/) and registry:

    - ``POST /v2/auth/token`` ``{"identifier", "secret"}`` -> ``{"access_token"}``
      (AuthCreateAccessToken; 401 on bad credentials),
    - ``GET /v2/namespaces/{namespace}/repositories?page=&page_size=`` and
      ``GET /v2/namespaces/{namespace}/repositories/{repository}/tags?page=&page_size=`` ->
      ``{"count", "next", "previous", "results"}`` (listNamespaceRepositories,
      ListRepositoryTags; ``next`` is a full URL or null; ``page_size`` max 100),
    - ``X-RateLimit-Limit``/``-Remaining``/``-Reset`` on every API answer,
    - the registry side: ``/token?service=&scope=`` with Basic (the auth.docker.io token
      service) and ``/v2/`` with its bearer tokens, whose manifest answers carry
      ``ratelimit-limit``/``ratelimit-remaining`` (``"100;w=21600"``).

    Namespaces are the first path segment of the real registry's repository names.
    ``users``: username -> personal access token; ``denied``: namespaces answering 403."""

    def __init__(self, registry: LocalRegistry) -> None:
        self._init_tokens()
        self.users: dict[str, str] = {}
        self.denied: set[str] = set()
        self.api_remaining = 180
        self.pull_remaining = 100
        super().__init__(registry)

    def route(self, request: Request) -> Reply:
        route = request.route
        if route == "/v2/auth/token" and request.method == "POST":
            return self._with_api_quota(self._login(request))
        if route == "/token":
            return self._registry_token(request)
        if route.startswith("/v2/namespaces/"):
            if request.bearer() not in self.tokens:
                return self._with_api_quota(
                    Reply(401, {"errinfo": None, "message": "unauthorized"})
                )
            return self._with_api_quota(self._namespaces(request, route[len("/v2/namespaces/") :]))
        if route.startswith("/v2/"):
            return self._registry(request)
        return Reply(404, {"message": "not found"})

    def _login(self, request: Request) -> Reply:
        body = json.loads(request.body or b"{}")
        if self.users.get(body.get("identifier")) != body.get("secret"):
            return Reply(401, {"errinfo": None, "message": "incorrect username or password"})
        return Reply(200, {"access_token": self.issue()})

    def _with_api_quota(self, reply: Reply) -> Reply:
        self.api_remaining -= 1
        reply.headers.update(
            {
                "X-RateLimit-Limit": "180",
                "X-RateLimit-Remaining": str(self.api_remaining),
                "X-RateLimit-Reset": str(int(time.time()) + 60),
            }
        )
        return reply

    def _namespaces(self, request: Request, rest: str) -> Reply:
        parts = rest.strip("/").split("/")
        namespace = parts[0]
        if namespace in self.denied:
            return Reply(403, {"errinfo": None, "message": "permission denied"})
        if len(parts) == 2 and parts[1] == "repositories":
            repos = [
                r.split("/", 1)[1]
                for r in self.view.repositories()
                if r.startswith(namespace + "/")
            ]
            results = [
                {
                    "name": name,
                    "namespace": namespace,
                    "repository_type": "image",
                    "is_private": True,
                }
                for name in repos
            ]
            return self._paginate(request, results)
        if len(parts) == 4 and parts[1] == "repositories" and parts[3] == "tags":
            repo = f"{namespace}/{parts[2]}"
            names = self.view.tags(repo)
            if names is None:
                return Reply(404, {"errinfo": None, "message": "object not found"})
            return self._paginate(request, [self._tag(repo, tag) for tag in names])
        return Reply(404, {"errinfo": None, "message": "not found"})

    def _tag(self, repo: str, tag: str) -> dict:
        digest, _ = self.view.manifest_head(repo, tag)
        pushed = iso(self.view.pushed_at(repo, tag))
        return {
            "name": tag, "digest": digest, "last_updated": pushed, "tag_last_pushed": pushed,
            "tag_last_pulled": None, "tag_status": "active", "full_size": 0, "images": [],
        }  # fmt: skip

    def _paginate(self, request: Request, results: list) -> Reply:
        query = request.query
        page = int(query.get("page") or 1)
        size = min(int(query.get("page_size") or 10), 100)
        chunk = results[(page - 1) * size : page * size]
        base = f"{self.url}{urlsplit(request.path).path}"
        more = page * size < len(results)
        nxt = f"{base}?{urlencode({'page': page + 1, 'page_size': size})}" if more else None
        prev = f"{base}?{urlencode({'page': page - 1, 'page_size': size})}" if page > 1 else None
        return Reply(200, {"count": len(results), "next": nxt, "previous": prev, "results": chunk})

    def _registry_token(self, request: Request) -> Reply:
        basic = request.basic()
        if not basic or self.users.get(basic[0]) != basic[1]:
            return Reply(401, {"details": "incorrect username or password"})
        token = self.issue()
        return Reply(200, {"token": token, "access_token": token, "expires_in": 300})

    def _registry(self, request: Request) -> Reply:
        if request.bearer() not in self.tokens:
            header = f'Bearer realm="{self.url}/token",service="registry.docker.io"'
            route = request.route
            if "/manifests/" in route or "/blobs/" in route:
                name = route[4:].split("/manifests/")[0].split("/blobs/")[0]
                header += f',scope="repository:{name}:pull"'
            return Reply(401, {"errors": [{"code": "UNAUTHORIZED"}]}, {"WWW-Authenticate": header})
        reply = self.view.proxy(request)
        if "/manifests/" in request.route:
            if request.method == "GET":
                self.pull_remaining -= 1
            reply.headers["ratelimit-limit"] = "100;w=21600"
            reply.headers["ratelimit-remaining"] = f"{self.pull_remaining};w=21600"
        return reply


# ---- JFrog Artifactory -------------------------------------------------------------------------


class ArtifactoryStandIn(TokenMixin, StandIn):
    """Artifactory REST API (https://jfrog.com/help/r/jfrog-rest-apis/):

    - Get Repositories: ``GET /artifactory/api/repositories?packageType=`` ->
      ``[{"key", "type", "description", "url", "packageType"}]``,
    - List Docker Repositories: ``GET /artifactory/api/docker/{key}/v2/_catalog?n=&last=`` ->
      ``{"repositories"}``; List Docker Tags: ``.../v2/{image}/tags/list?n=&last=`` ->
      ``{"name", "tags"}`` (paged by ``n``/``last``, no Link header),
    - File Info: ``GET /artifactory/api/storage/{key}/{path}`` -> ``{"repo", "path",
      "created", "lastModified", "lastUpdated", "size", "checksums": {"sha1", "md5",
      "sha256"}, ...}`` (``{image}/{tag}/manifest.json``, ``list.manifest.json`` for indexes),
    - ``/v2/{key}/{image}/...``: the Docker "repository path" method, Basic or Bearer.

    Docker repositories are the keys of ``keys`` (key -> package type); images live in the real
    registry as ``{key}/{image}``. ``users``: username -> password or identity token;
    ``access_tokens``: bearer tokens; ``denied``: keys answering 403."""

    def __init__(self, registry: LocalRegistry, keys: dict[str, str]) -> None:
        self._init_tokens()
        self.keys = dict(keys)
        self.users: dict[str, str] = {}
        self.access_tokens: set[str] = set()
        self.denied: set[str] = set()
        super().__init__(registry)

    def _authorized(self, request: Request) -> bool:
        basic = request.basic()
        if basic:
            return self.users.get(basic[0]) == basic[1]
        return request.bearer() in self.access_tokens | self.tokens

    def route(self, request: Request) -> Reply:
        route = request.route
        if not self._authorized(request):
            headers = {"WWW-Authenticate": 'Basic realm="Artifactory Realm"'}
            return Reply(401, {"errors": [{"status": 401, "message": "Bad credentials"}]}, headers)
        if route == "/artifactory/api/repositories":
            return self._repositories(request.query.get("packageType"))
        if route.startswith("/artifactory/api/docker/"):
            return self._docker(route[len("/artifactory/api/docker/") :], request.query)
        if route.startswith("/artifactory/api/storage/"):
            return self._storage(route[len("/artifactory/api/storage/") :])
        if route.startswith("/v2/"):
            return self.view.proxy(request)
        return Reply(404, {"errors": [{"status": 404, "message": "Not Found"}]})

    def _repositories(self, package_type: str | None) -> Reply:
        return Reply(200, [
            {"key": key, "type": "LOCAL", "description": "", "url": f"{self.url}/artifactory/{key}",
             "packageType": kind.capitalize()}
            for key, kind in self.keys.items()
            if not package_type or kind.lower() == package_type.lower()
        ])  # fmt: skip

    def _images(self, key: str) -> list[str]:
        return [r[len(key) + 1 :] for r in self.view.repositories() if r.startswith(key + "/")]

    def _docker(self, rest: str, query: dict[str, str]) -> Reply:
        key, _, path = rest.partition("/v2/")
        if key not in self.keys:
            return Reply(
                404, {"errors": [{"status": 404, "message": f"Repository {key} not found"}]}
            )
        if key in self.denied:
            return Reply(403, {"errors": [{"status": 403, "message": "Forbidden"}]})
        if path == "_catalog":
            return Reply(200, {"repositories": self._page(self._images(key), query)})
        if path.endswith("/tags/list"):
            image = path[: -len("/tags/list")]
            tags = self.view.tags(f"{key}/{image}")
            if tags is None:
                return Reply(
                    404,
                    {
                        "errors": [
                            {
                                "code": "NAME_UNKNOWN",
                                "message": "Repository name not known to registry.",
                            }
                        ]
                    },
                )
            return Reply(200, {"name": image, "tags": self._page(tags, query)})
        return Reply(404, {"errors": [{"status": 404, "message": "Not Found"}]})

    @staticmethod
    def _page(items: list[str], query: dict[str, str]) -> list[str]:
        n = int(query.get("n") or 10_000)
        last = query.get("last")
        start = items.index(last) + 1 if last in items else 0
        return items[start : start + n]

    def _storage(self, rest: str) -> Reply:
        key, _, path = rest.partition("/")
        folder, _, filename = path.rpartition("/")
        image, _, tag = folder.rpartition("/")
        if key in self.denied:
            return Reply(403, {"errors": [{"status": 403, "message": "Forbidden"}]})
        tags = self.view.tags(f"{key}/{image}") if key in self.keys else None
        if not tags or tag not in tags:
            return Reply(404, {"errors": [{"status": 404, "message": "Unable to find item"}]})
        digest, media_type = self.view.manifest_head(f"{key}/{image}", tag)
        expected = "list.manifest.json" if media_type in INDEX_TYPES else "manifest.json"
        if filename != expected:
            return Reply(404, {"errors": [{"status": 404, "message": "Unable to find item"}]})
        when = iso(self.view.pushed_at(f"{key}/{image}", tag))
        return Reply(200, {
            "repo": key, "path": f"/{path}", "created": when, "createdBy": "ci",
            "lastModified": when, "modifiedBy": "ci", "lastUpdated": when,
            "downloadUri": f"{self.url}/artifactory/{key}/{path}", "mimeType": "application/json",
            "size": "0", "checksums": {"sha1": "0" * 40, "md5": "0" * 32, "sha256": digest.split(":", 1)[1]},
            "uri": f"{self.url}/artifactory/api/storage/{key}/{path}",
        })  # fmt: skip


# ---- helpers for the provider tests -----------------------------------------------------------


def assert_pulls(
    provider, repository: str, tag: str, registry: LocalRegistry, name: str = ""
) -> str:
    """Pull ``repository:tag`` through ``provider``'s Distribution client: the manifest, the
    config and every layer (digest-verified while streaming by the client), and compare each
    blob with what was pushed to ``registry`` (as ``name``, default ``repository``). Return the
    manifest digest."""
    client = provider.distribution()
    resolved = client.resolve(repository, tag)
    assert len(resolved.images) == 1
    image = resolved.images[0]
    pushed = registry.images[image.digest]
    assert [layer.digest for layer in image.layers] == pushed.layer_digests
    for descriptor in (image.config, *image.layers):
        with client.open_blob(repository, descriptor.digest) as blob:
            assert blob.read() == pushed.blobs[descriptor.digest]
    return resolved.digest


def json_response(status: int, body: object, headers: dict | None = None) -> requests.Response:
    resp = requests.Response()
    resp.status_code = status
    resp._content = json.dumps(body).encode()
    resp._content_consumed = True
    resp.headers.update(headers or {})
    return resp


class FakeSession:
    """Swapped in for a provider's ``requests.Session``: answers by URL prefix, records calls."""

    def __init__(self, answers: dict[str, list[requests.Response]]) -> None:
        self.answers = answers
        self.calls: list[tuple[str, str, dict]] = []

    def request(self, method: str, url: str, **kwargs) -> requests.Response:
        self.calls.append((method, url, kwargs))
        for prefix, queue in self.answers.items():
            if url.startswith(prefix) and queue:
                return queue.pop(0)
        raise AssertionError(f"unexpected request {method} {url}")


def start_registry(directory: Path, **kwargs) -> LocalRegistry:
    """A fresh real registry for a module-scoped fixture (the caller stops it); skips the test
    when the Debian package docker-registry is missing, as ``make_registry`` does."""
    if not os.path.exists(REGISTRY_BIN):
        pytest.skip(f"{REGISTRY_BIN} is missing: install the Debian package docker-registry")
    return LocalRegistry(directory, **kwargs)


# ---- fixtures ----------------------------------------------------------------------------------


class _Started:
    def __init__(self) -> None:
        self.servers: list[StandIn] = []

    def add(self, server: StandIn) -> StandIn:
        self.servers.append(server)
        return server

    def stop(self) -> None:
        for server in self.servers:
            server.stop()


@pytest.fixture
def standins() -> Iterator[_Started]:
    started = _Started()
    yield started
    started.stop()


@pytest.fixture(scope="session")
def standin_tls_dir(tmp_path_factory) -> Path:
    """Where the stand-ins' self-signed certificate is made, once per session."""
    return tmp_path_factory.mktemp("standin-tls")


@pytest.fixture
def acr_standin(standins, standin_tls_dir):
    """Factory: ``acr_standin(registry)`` -> a running :class:`AcrStandIn` (HTTPS)."""
    return lambda registry: standins.add(AcrStandIn(registry, standin_tls_dir))


@pytest.fixture
def hub_standin(standins):
    """Factory: ``hub_standin(registry)`` -> a running :class:`HubStandIn`."""
    return lambda registry: standins.add(HubStandIn(registry))


@pytest.fixture
def artifactory_standin(standins):
    """Factory: ``artifactory_standin(registry, keys={"docker-local": "docker"})``."""
    return lambda registry, keys: standins.add(ArtifactoryStandIn(registry, keys))
