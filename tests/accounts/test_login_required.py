"""Every URL but the login pages requires login. The URL list is enumerated from the resolver,
so a page added later is covered without editing this test."""

from __future__ import annotations

import re

import pytest
from django.urls import URLPattern, URLResolver, get_resolver

# Names of views that must be reachable anonymously (the login pages themselves).
PUBLIC = {"login", "admin:login"}
_CONVERTER = re.compile(r"<(?:(?P<conv>\w+):)?(?P<name>\w+)>")
_SAMPLE = {
    "int": "1",
    "str": "x",
    "slug": "x",
    "path": "x/y",
    "uuid": "00000000-0000-0000-0000-000000000000",
}


def _walk(patterns, prefix="", namespace=""):
    for p in patterns:
        if isinstance(p, URLResolver):
            ns = f"{namespace}{p.namespace}:" if p.namespace else namespace
            yield from _walk(p.url_patterns, prefix + str(p.pattern), ns)
        elif isinstance(p, URLPattern):
            yield namespace + (p.name or ""), prefix + str(p.pattern)


def _concrete(route: str) -> str | None:
    if route.startswith("^"):  # regex routes (admin internals): use the simple ones only
        if any(ch in route for ch in "()[]?*+\\"):
            return None
        route = route.lstrip("^").rstrip("$")
    return "/" + _CONVERTER.sub(lambda m: _SAMPLE.get(m.group("conv") or "str", "x"), route)


def _all_urls():
    seen = set()
    for name, route in _walk(get_resolver().url_patterns):
        url = _concrete(route)
        if url is None or url in seen:
            continue
        seen.add(url)
        yield pytest.param(name, url, id=url)


@pytest.mark.parametrize(("name", "url"), list(_all_urls()))
def test_anonymous_requests_are_sent_to_log_in(client, db, name, url):
    response = client.get(url)
    if name in PUBLIC:
        assert response.status_code == 200
        return
    assert response.status_code in (302, 405), f"{url} answered {response.status_code}"
    if response.status_code == 302:
        assert "login" in response["Location"], f"{url} redirected to {response['Location']}"
    # Also for POST (a 405 on GET must not hide an open POST).
    response = client.post(url)
    assert response.status_code in (302, 403, 405), f"POST {url} answered {response.status_code}"
    if response.status_code == 302:
        assert "login" in response["Location"]


def test_the_list_is_not_empty():
    urls = [u for _, u in ((p.values[0], p.values[1]) for p in _all_urls())]
    assert "/integrations/" in urls and "/" in urls and len(urls) > 10


def test_login_page_renders(client, db):
    response = client.get("/login/")
    assert response.status_code == 200
    assert b'name="username"' in response.content and b'name="password"' in response.content
