"""My Integrations: the table, Scan Now (row and bulk), delete, and the create/edit wizard.

Views stay thin: look the object up in the current organization (404 for outsiders), refuse
writes to non-admins (403), validate a form, call a service, redirect. The wizard keeps its
draft in the session between steps; a secret typed in the Credentials step is stored there
encrypted and never rendered back.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_tables2 import RequestConfig

from accounts.scoping import for_org, get_for_org_or_404

from . import services
from .crypto import decrypt, encrypt
from .forms import (
    LIST_FIELDS,
    ConfigurationForm,
    CredentialsForm,
    DetailsForm,
    decompose_schedule,
    split_lines,
)
from .models import Registry, RegistryAccess
from .providers import PROVIDERS, get_provider_class
from .providers.base import Provider, ProviderError
from .tables import RegistryTable, access_tabs, attach_open_counts, registry_rows

STEPS = [
    ("details", "Details"),
    ("credentials", "Credentials"),
    ("test", "Test connection"),
    ("configuration", "Configuration"),
]
STEP_NAMES = [s for s, _ in STEPS]
CONFIG_FIELDS = (
    "schedule", "max_tags", "max_age_days",
    "include_repos", "exclude_repos", "include_tags", "exclude_tags",
)  # fmt: skip


def admin_required(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Refuse (403) anyone outside the current organization's admins group."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not getattr(request, "is_org_admin", False):
            raise PermissionDenied("Only the organization's admins can change integrations.")
        return view(request, *args, **kwargs)

    return wrapper


def _provider_cards() -> list[dict[str, Any]]:
    cards = []
    for kind in PROVIDERS:
        try:
            cls = get_provider_class(kind)
        except (ImportError, AttributeError, ProviderError):
            continue  # a provider module that is not installed is not offered
        cards.append({"kind": kind, "label": cls.label, "prerequisites": cls.prerequisites})
    return cards


@require_GET
def registry_list(request: HttpRequest) -> HttpResponse:
    registries = for_org(Registry, request.organization)
    access = request.GET.get("access", "")
    tabs = access_tabs(registries, access)
    if access in RegistryAccess.values:
        registries = registries.filter(access=access)
    table = RegistryTable(registry_rows(registries))
    RequestConfig(request, paginate={"per_page": 50}).configure(table)
    attach_open_counts(table)
    table.before_render(request)
    return render(
        request,
        "integrations/registry_list.html",
        {
            "table": table,
            "providers": _provider_cards(),
            "has_rows": bool(table.page.paginator.count),
            "access_tabs": tabs,
        },
    )


def _scan(request: HttpRequest, registry: Registry) -> None:
    from scans.orchestration import request_scan

    run, message = request_scan(registry, trigger="manual", actor=request.user)
    # The orchestration's messages name the registry ("Scan of prod started.").
    (messages.success if run is not None else messages.warning)(request, message)


@require_POST
def registry_scan(request: HttpRequest, pk: int) -> HttpResponse:
    registry = get_for_org_or_404(Registry, request, pk=pk)
    if not request.is_org_admin:
        raise PermissionDenied("Only the organization's admins can start scans.")
    _scan(request, registry)
    return redirect("integrations:registry_list")


@require_POST
@admin_required
def registry_bulk_scan(request: HttpRequest) -> HttpResponse:
    ids = [v for v in request.POST.getlist("registry") if v.isdigit()]
    registries = list(for_org(Registry, request.organization).filter(pk__in=ids))
    if not registries:
        messages.warning(request, "Select one or more integrations to scan.")
    for registry in registries:
        _scan(request, registry)
    return redirect("integrations:registry_list")


@require_http_methods(["GET", "POST"])
def registry_delete(request: HttpRequest, pk: int) -> HttpResponse:
    registry = get_for_org_or_404(Registry, request, pk=pk)
    if not request.is_org_admin:
        raise PermissionDenied("Only the organization's admins can delete integrations.")
    if request.method == "POST":
        services.delete_registry(registry)
        messages.success(request, f"Deleted the integration {registry.name} and its scan data.")
        return redirect("integrations:registry_list")
    return render(request, "integrations/registry_confirm_delete.html", {"registry": registry})


# --- The wizard ---


def _provider_or_404(kind: str) -> type[Provider]:
    if kind not in PROVIDERS:
        raise Http404("Unknown provider.")
    try:
        return get_provider_class(kind)
    except (ImportError, AttributeError, ProviderError):
        raise Http404("This provider is not available.")


def _draft_key(kind: str, registry: Registry | None) -> str:
    return f"regscan-wizard:{registry.pk}" if registry else f"regscan-wizard:new:{kind}"


def _initial_draft(registry: Registry | None) -> dict[str, Any]:
    if registry is None:
        return {"fields": {}, "secret": "", "check": None}
    names = set(services.EDITABLE_FIELDS) - {"provider", "enabled"}
    return {"fields": {n: getattr(registry, n) for n in names}, "secret": "", "check": None}


def _as_registry(org: Any, kind: str, draft: dict[str, Any], registry: Registry | None) -> Registry:
    """An unsaved Registry holding the draft (for Test connection and the preview)."""
    obj = Registry(organization=org, provider=kind)
    if registry is not None:
        obj.pk, obj.secret_encrypted = registry.pk, registry.secret_encrypted
    for name, value in draft["fields"].items():
        setattr(obj, name, value)
    if draft["secret"]:
        obj.secret_encrypted = draft["secret"]
    return obj


def _initial_for(draft: dict[str, Any]) -> dict[str, Any]:
    """Draft values as form initial data (lists joined one per line)."""
    out = {
        k: "\n".join(v) if k in LIST_FIELDS and isinstance(v, list) else v
        for k, v in draft["fields"].items()
    }
    if "schedule" in draft["fields"]:
        out.update(decompose_schedule(draft["fields"]["schedule"]))
    return out


def _form_fields(form: Any) -> dict[str, Any]:
    """Cleaned non-secret values of a Details/Credentials form, lists split."""
    out = {}
    for name, value in form.cleaned_data.items():
        if name == "secret":
            continue
        out[name] = split_lines(value) if name in LIST_FIELDS else value
    return out


@require_http_methods(["GET", "POST"])
@admin_required
def registry_add(request: HttpRequest, provider: str, step: str = "details") -> HttpResponse:
    cls = _provider_or_404(provider)
    return _wizard(request, cls, provider, None, step)


@require_http_methods(["GET", "POST"])
def registry_edit(request: HttpRequest, pk: int, step: str = "configuration") -> HttpResponse:
    registry = get_for_org_or_404(Registry, request, pk=pk)
    if not request.is_org_admin:
        raise PermissionDenied("Only the organization's admins can change integrations.")
    cls = _provider_or_404(registry.provider)
    return _wizard(request, cls, registry.provider, registry, step)


def _step_url(kind: str, registry: Registry | None, step: str) -> str:
    if registry is not None:
        return reverse("integrations:registry_edit_step", args=[registry.pk, step])
    return reverse("integrations:registry_add_step", args=[kind, step])


def _wizard(
    request: HttpRequest, cls: type[Provider], kind: str, registry: Registry | None, step: str
) -> HttpResponse:
    """Dispatch one wizard step; the draft lives in the session under one key per wizard."""
    if step not in STEP_NAMES:
        raise Http404("Unknown step.")
    key = _draft_key(kind, registry)
    if request.method == "GET" and request.GET.get("restart"):
        request.session.pop(key, None)
    draft = request.session.get(key) or _initial_draft(registry)
    ctx: dict[str, Any] = {
        # A dict, not the class: templates would call a class (instantiate it) on lookup.
        "provider": {"label": cls.label, "prerequisites": cls.prerequisites},
        "kind": kind,
        "registry": registry,
        "step": step,
        "draft": draft,
        "steps": [(s, label, _step_url(kind, registry, s)) for s, label in STEPS],
        "has_secret": bool(draft["secret"] or (registry and registry.has_secret)),
    }
    handler = {
        "details": _details,
        "credentials": _credentials,
        "test": _test,
        "configuration": _configuration,
    }[step]
    response = handler(request, cls, kind, registry, draft, ctx)
    if step != "configuration" or request.method == "GET" or response.status_code == 200:
        request.session[key] = draft
    return response


def _next(kind: str, registry: Registry | None, step: str) -> HttpResponse:
    return redirect(_step_url(kind, registry, STEP_NAMES[STEP_NAMES.index(step) + 1]))


def _details(request, cls, kind, registry, draft, ctx) -> HttpResponse:
    org, pk = request.organization, registry.pk if registry else None
    if request.method == "POST":
        form = DetailsForm(request.POST, provider=cls, org=org, instance_pk=pk)
        if form.is_valid():
            draft["fields"].update(_form_fields(form))
            return _next(kind, registry, "details")
    else:
        form = DetailsForm(initial=_initial_for(draft), provider=cls, org=org, instance_pk=pk)
    return render(request, "integrations/wizard.html", {**ctx, "form": form})


def _credentials(request, cls, kind, registry, draft, ctx) -> HttpResponse:
    if request.method == "POST":
        form = CredentialsForm(request.POST, provider=cls, has_secret=ctx["has_secret"])
        if form.is_valid():
            draft["fields"].update(_form_fields(form))
            if form.cleaned_data.get("secret"):
                draft["secret"] = encrypt(form.cleaned_data["secret"])
            draft["check"] = None
            return _next(kind, registry, "credentials")
    else:
        initial = {k: v for k, v in _initial_for(draft).items() if k != "secret"}
        form = CredentialsForm(initial=initial, provider=cls, has_secret=ctx["has_secret"])
    return render(request, "integrations/wizard.html", {**ctx, "form": form})


def _test(request, cls, kind, registry, draft, ctx) -> HttpResponse:
    if request.method == "POST":
        candidate = _as_registry(request.organization, kind, draft, registry)
        try:
            draft["check"] = {"ok": True, "message": services.check_registry(candidate)}
        except ProviderError as exc:
            draft["check"] = {"ok": False, "message": exc.message}
        except ValueError as exc:  # e.g. a stored secret that no key decrypts
            draft["check"] = {"ok": False, "message": str(exc)}
    return render(request, "integrations/wizard.html", ctx)


def _configuration(request, cls, kind, registry, draft, ctx) -> HttpResponse:
    if request.method == "GET":
        form = ConfigurationForm(
            initial=_initial_for(draft) if draft["fields"].get("schedule") else None
        )
        return render(request, "integrations/wizard.html", {**ctx, "form": form})
    form = ConfigurationForm(request.POST)
    if not form.is_valid():
        return render(request, "integrations/wizard.html", {**ctx, "form": form})
    draft["fields"].update(form.registry_fields())
    if request.POST.get("action") == "preview":
        ctx["preview"] = _preview(request, kind, draft, registry)
        return render(request, "integrations/wizard.html", {**ctx, "form": form})
    return _save(request, kind, registry, draft, ctx, form)


def _preview(
    request: HttpRequest, kind: str, draft: dict[str, Any], registry: Registry | None
) -> dict[str, Any]:
    """The dry run: the tags the first/next scan would pull, or the error listing them."""
    from scans.policy import preview

    candidate = _as_registry(request.organization, kind, draft, registry)
    if candidate.pk is None:
        # A new integration has no scan history; the policy reads history by registry, and
        # no row has pk -1, so the preview sees an empty history without saving anything.
        candidate.pk = -1
    try:
        decisions = preview(candidate)
    except ProviderError as exc:
        return {"error": exc.message, "scan": [], "skip": []}
    scan = [d for d in decisions if d.action == "scan"]
    return {"error": "", "scan": scan, "skip": [d for d in decisions if d.action != "scan"]}


def _save(request, kind, registry, draft, ctx, form) -> HttpResponse:
    fields = {k: v for k, v in draft["fields"].items() if k in services.EDITABLE_FIELDS}
    secret = decrypt(draft["secret"]).reveal() if draft["secret"] else None
    try:
        if registry is None:
            fields.setdefault("name", "")
            saved = services.create_registry(
                request.organization, request.user, secret=secret, provider=kind, **fields
            )
            messages.success(request, f"Created {saved.name}; its first scan has started.")
        else:
            saved = services.update_registry(registry, secret=secret, **fields)
            messages.success(request, f"Updated {saved.name}; its schedule is now in effect.")
    except ValidationError as exc:
        for field, errors in exc.message_dict.items():
            for error in errors:
                form.add_error(None, f"{field.replace('_', ' ')}: {error}")
        return render(request, "integrations/wizard.html", {**ctx, "form": form})
    request.session.pop(_draft_key(kind, registry), None)
    return redirect("integrations:registry_list")
