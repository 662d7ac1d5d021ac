"""Import OSV records, the CISA KEV catalog and FIRST EPSS scores into the database.

Locations: OSV ``.json`` (one record or a list), ``.jsonl``, directories (recursive), ``.zip``
archives (OSV's per-ecosystem ``all.zip``), gzip of any of these, ``http(s)://`` URLs of them,
the KEV JSON and the EPSS CSV (``#model_version:...,score_date:...`` line, then
``cve,epss,percentile``). The format is sniffed from the content, not the name; a file that is
none of these raises :class:`ImportFormatError` naming it.

Writes are in bulk, per batch of records: one query finds the stored versions, then
inserts (``executemany``) or ``bulk_update``s the vulnerabilities and replaces their ``Affected`` rows. A
record is skipped when its ``modified`` is not newer than the stored one (records without
``modified``, like the Alpine conversions, are compared by content hash instead).
"""

from __future__ import annotations

import csv
import hashlib
import json
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from django.db import connection, transaction
from django.utils import timezone

from .formats import (
    ImportFormatError,
    SourceUnavailable,
    download,
    head,
    jsonl_records,
    osv_records,
    records_in_dir,
    sniff,
)
from .matchers import matcher_for_osv_ecosystem
from .models import Affected, EpssScore, ImportSource, KevEntry, SourceKind, Vulnerability
from .severity import severity_of

__all__ = [
    "ImportFormatError",
    "SourceReport",
    "SourceUnavailable",
    "import_location",
    "safe_source_name",
]

log = logging.getLogger(__name__)
BATCH = 1000
_RANGE_TYPES = {"ECOSYSTEM", "SEMVER"}
_VULN_FIELDS = [
    "aliases",
    "upstream",
    "related",
    "summary",
    "details",
    "published",
    "modified",
    "withdrawn",
    "severity",
    "cvss_score",
    "cvss_vector",
    "references",
    "database_specific",
    "source",
    "content_hash",
    "imported_at",
]


@dataclass
class SourceReport:
    source: str
    kind: str = ""
    records: int = 0
    created: int = 0
    updated: int = 0
    skipped: int = 0
    withdrawn: int = 0
    ecosystems: set[str] = field(default_factory=set)
    changed_keys: set[tuple[str, str]] = field(default_factory=set)
    error: str = ""
    # KEV/EPSS files found inside an imported directory, each imported as its own source.
    also: list[SourceReport] = field(default_factory=list)
    # JSON files inside an imported directory that are no feed (e.g. manifest.json): skipped.
    ignored: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "kind": self.kind,
            "records": self.records,
            "created": self.created,
            "updated": self.updated,
            "skipped": self.skipped,
            "withdrawn": self.withdrawn,
            "ecosystems": sorted(self.ecosystems),
            "changed_packages": len(self.changed_keys),
            "error": self.error,
            "ignored": self.ignored,
        }


def safe_source_name(location: str) -> str:
    """The location without credentials or query string (it is stored and printed)."""
    if "://" not in location:
        return location
    parts = urlsplit(location)
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


def import_location(location: str, now: datetime | None = None) -> SourceReport:
    """Import one path or URL and record it as an ImportSource.

    Raises ImportFormatError (unknown format, named) or SourceUnavailable (cannot be read).
    """
    now = now or timezone.now()
    report = SourceReport(source=safe_source_name(location))
    if location.startswith(("http://", "https://")):
        with download(location, report.source) as path:
            _import_path(path, report.source, report, now)
    else:
        path = Path(location)
        if not path.exists():
            raise SourceUnavailable(f"{location}: no such file or directory")
        _import_path(path, report.source, report, now)
    _record_source(report, now)
    return report


def _import_path(path: Path, name: str, report: SourceReport, now: datetime) -> None:
    if path.is_dir():
        report.kind = SourceKind.OSV
        aside: list[Path] = []
        ignored: list[Path] = []

        def in_dir():
            aside.clear()
            ignored.clear()
            return records_in_dir(path, aside, ignored)

        _write_osv(_checked(in_dir), name, report, now)
        report.ignored = [str(p) for p in ignored]
        for skipped in ignored:
            log.warning("%s: not an OSV record, KEV catalog or EPSS file; skipped", skipped)
        for other in aside:
            sub = SourceReport(source=str(other))
            _import_path(other, sub.source, sub, now)
            _record_source(sub, now)
            report.also.append(sub)
        return
    if path.suffix in (".jsonl", ".ndjson") and head(path)[:1] in (b"{", b" ", b"\n"):
        # Stream JSON lines: a full ecosystem export need not fit in memory three times over.
        report.kind = SourceKind.OSV
        with open(path, encoding="utf-8-sig") as fh:

            def lines():
                fh.seek(0)
                return jsonl_records(fh, name)

            _write_osv(_checked(lines), name, report, now)
        return
    data = path.read_bytes()
    kind, payload = sniff(data, name)
    report.kind = "osv" if kind.startswith("osv") else kind
    if kind == "kev":
        _write_kev(payload, report)
    elif kind == "epss":
        _write_epss(payload, report)
    else:
        _write_osv(_checked(lambda: osv_records(kind, payload, name)), name, report, now)


# --- OSV ---


def _checked(make_records: Callable[[], Iterator[dict[str, Any]]]) -> Iterator[dict[str, Any]]:
    """Read the records of a location once to the end (parsing only), then return them anew.

    Raises ImportFormatError before anything is written: a refused location imports nothing
    (records written batch by batch before the damaged file would otherwise stay, and count
    as unchanged, so never re-matched, on the next import)."""
    for _ in make_records():
        pass
    return make_records()


def _write_osv(records, source: str, report: SourceReport, now: datetime) -> None:
    batch: list[dict[str, Any]] = []
    for record in records:
        batch.append(record)
        if len(batch) >= BATCH:
            _write_osv_batch(batch, source, report, now)
            batch = []
    if batch:
        _write_osv_batch(batch, source, report, now)


def _parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else timezone.make_aware(parsed, timezone.utc)


def _vulnerability(record: dict[str, Any], source: str, now: datetime) -> Vulnerability:
    label, score, vector = severity_of(record)
    return Vulnerability(
        osv_id=record["id"],
        aliases=list(record.get("aliases") or []),
        upstream=list(record.get("upstream") or []),
        related=list(record.get("related") or []),
        summary=str(record.get("summary") or "")[:2000],
        details=str(record.get("details") or ""),
        published=_parse_time(record.get("published")),
        modified=_parse_time(record.get("modified")),
        withdrawn=_parse_time(record.get("withdrawn")),
        severity=label,
        cvss_score=score,
        cvss_vector=vector,
        references=list(record.get("references") or []),
        database_specific=record.get("database_specific") or {},
        source=source,
        content_hash=_content_hash(record),
        imported_at=now,
    )


def _affected_rows(record: dict[str, Any]) -> list[tuple[str, str, str, list, list]]:
    rows = []
    for entry in record.get("affected") or []:
        package = entry.get("package") or {}
        ecosystem, name = package.get("ecosystem"), package.get("name")
        if not ecosystem or not name:
            continue  # GIT-only entries name a repository, not a package
        ranges = [r for r in entry.get("ranges") or [] if r.get("type") in _RANGE_TYPES]
        versions = [str(v) for v in entry.get("versions") or []]
        if not ranges and not versions:
            continue
        matcher = matcher_for_osv_ecosystem(ecosystem)
        normalized = matcher.normalize_name(name) if matcher else name
        rows.append((ecosystem, name, normalized, ranges, versions))
    return rows


def _content_hash(record: dict[str, Any]) -> str:
    return hashlib.sha256(
        json.dumps(record, sort_keys=True, separators=(",", ":")).encode()
    ).hexdigest()


def _is_newer(
    modified: datetime | None, record: dict[str, Any], old_modified, old_hash: str
) -> bool:
    """Newer by ``modified`` when both have one, else by content (hash differs)."""
    if modified and old_modified:
        return modified > old_modified
    return _content_hash(record) != old_hash


def _write_osv_batch(batch, source: str, report: SourceReport, now: datetime) -> None:
    # Decide on (modified, hash) first: an unchanged record is skipped before it is built.
    latest: dict[str, tuple[datetime | None, dict[str, Any]]] = {}
    for record in batch:
        report.records += 1
        modified = _parse_time(record.get("modified"))
        previous = latest.get(record["id"])
        if previous is None or _is_newer(modified, record, previous[0], _content_hash(previous[1])):
            latest[record["id"]] = (modified, record)
    existing = dict(
        (osv_id, (pk, modified, content_hash))
        for osv_id, pk, modified, content_hash in Vulnerability.objects.filter(
            osv_id__in=list(latest)
        ).values_list("osv_id", "pk", "modified", "content_hash")
    )
    creates, updates = [], []
    for osv_id, (modified, record) in latest.items():
        old = existing.get(osv_id)
        if old is not None and not _is_newer(modified, record, old[1], old[2]):
            report.skipped += 1
            continue
        vuln = _vulnerability(record, source, now)
        if old is not None:
            vuln.pk = old[0]
        (updates if old is not None else creates).append((vuln, _affected_rows(record)))
    report.skipped += len(batch) - len(latest)  # the same id twice in one batch
    _save(creates, updates, report)


def _save(creates, updates, report: SourceReport) -> None:
    with transaction.atomic():
        _insert_many(Vulnerability, [v for v, _ in creates])
        Vulnerability.objects.bulk_update([v for v, _ in updates], _VULN_FIELDS, batch_size=500)
        new_ids = dict(
            Vulnerability.objects.filter(osv_id__in=[v.osv_id for v, _ in creates]).values_list(
                "osv_id", "id"
            )
        )
        update_pks = [v.pk for v, _ in updates]
        old = Affected.objects.filter(vulnerability_id__in=update_pks)
        report.changed_keys.update(old.values_list("ecosystem", "normalized_name"))
        old.delete()
        rows = []
        for vuln, affected in [*creates, *updates]:
            pk = vuln.pk or new_ids[vuln.osv_id]
            for ecosystem, name, normalized, ranges, versions in affected:
                rows.append(
                    Affected(
                        vulnerability_id=pk,
                        ecosystem=ecosystem,
                        name=name,
                        normalized_name=normalized,
                        ranges=ranges,
                        versions=versions,
                    )
                )
                report.changed_keys.add((ecosystem, normalized))
                report.ecosystems.add(ecosystem)
        _insert_many(Affected, rows)
    report.created += len(creates)
    report.updated += len(updates)
    report.withdrawn += sum(1 for v, _ in [*creates, *updates] if v.withdrawn)


def _insert_many(model, objs: list, batch: int = 1000) -> None:
    """INSERT new rows with one executemany per batch.

    Same values as ``bulk_create`` (each field's ``get_db_prep_save`` adapts them for the
    database in use), without building an INSERT statement per batch through the SQL
    compiler, which costs more than the database here. Primary keys are not set on ``objs``.
    """
    fields = [f for f in model._meta.concrete_fields if not f.primary_key]
    qn = connection.ops.quote_name
    # Identifiers come from the model's metadata (quoted); every value is a parameter.
    sql = "INSERT INTO {} ({}) VALUES ({})".format(  # noqa: S608
        qn(model._meta.db_table),
        ", ".join(qn(f.column) for f in fields),
        ", ".join(["%s"] * len(fields)),
    )
    with connection.cursor() as cursor:
        for i in range(0, len(objs), batch):
            cursor.executemany(
                sql,
                [
                    [f.get_db_prep_save(getattr(obj, f.attname), connection) for f in fields]
                    for obj in objs[i : i + batch]
                ],
            )


# --- KEV and EPSS ---


def _date(value: Any) -> date | None:
    try:
        return date.fromisoformat(str(value)[:10]) if value else None
    except ValueError:
        return None


def _write_kev(doc: dict[str, Any], report: SourceReport) -> None:
    entries = {}
    for item in doc["vulnerabilities"]:
        cve = str(item.get("cveID", "")).strip()
        if not cve:
            continue
        entries[cve] = KevEntry(
            cve=cve,
            vendor=str(item.get("vendorProject", ""))[:200],
            product=str(item.get("product", ""))[:200],
            name=str(item.get("vulnerabilityName", ""))[:500],
            date_added=_date(item.get("dateAdded")),
            due_date=_date(item.get("dueDate")),
            ransomware=str(item.get("knownRansomwareCampaignUse", ""))[:30],
            required_action=str(item.get("requiredAction", "")),
        )
    report.records = len(entries)
    with transaction.atomic():
        before = set(KevEntry.objects.values_list("cve", flat=True))
        # The catalog is published whole: entries CISA removed are removed here too.
        KevEntry.objects.exclude(cve__in=list(entries)).delete()
        KevEntry.objects.bulk_create(
            list(entries.values()),
            batch_size=1000,
            update_conflicts=True,
            unique_fields=["cve"],
            update_fields=[
                "vendor",
                "product",
                "name",
                "date_added",
                "due_date",
                "ransomware",
                "required_action",
            ],
        )
    report.created = len(set(entries) - before)
    report.updated = len(entries) - report.created


def _epss_meta(line: str) -> dict[str, str]:
    meta = {}
    for part in line.lstrip("#").split(","):
        key, _, value = part.partition(":")
        meta[key.strip()] = value.strip()
    return meta


def _write_epss(text: str, report: SourceReport) -> None:
    lines = text.splitlines()
    meta = _epss_meta(lines[0]) if lines and lines[0].startswith("#") else {}
    body = lines[1:] if meta else lines
    score_date, model = _date(meta.get("score_date")), meta.get("model_version", "")
    reader = csv.DictReader(body)
    if not reader.fieldnames or not {"cve", "epss", "percentile"} <= set(reader.fieldnames):
        raise ImportFormatError(f"{report.source}: EPSS CSV without cve,epss,percentile header")
    rows: list[EpssScore] = []
    for row in reader:
        try:
            rows.append(
                EpssScore(
                    cve=row["cve"].strip(),
                    score=float(row["epss"]),
                    percentile=float(row["percentile"]),
                    score_date=score_date,
                    model_version=model[:50],
                )
            )
        except (TypeError, ValueError):
            raise ImportFormatError(f"{report.source}: bad EPSS row {reader.line_num}")
    with transaction.atomic():
        EpssScore.objects.bulk_create(
            rows,
            batch_size=2000,
            update_conflicts=True,
            unique_fields=["cve"],
            update_fields=["score", "percentile", "score_date", "model_version"],
        )
    report.records = report.updated = len(rows)


def _record_source(report: SourceReport, now: datetime) -> None:
    changed = report.created + report.updated > 0
    defaults = {
        "kind": report.kind,
        "ecosystems": sorted(report.ecosystems),
        "last_imported_at": now,
        "records": report.records,
        "created": report.created,
        "updated": report.updated,
        "skipped": report.skipped,
        "error": report.error,
    }
    if changed:
        defaults["last_changed_at"] = now
    ImportSource.objects.update_or_create(name=report.source[:1000], defaults=defaults)
