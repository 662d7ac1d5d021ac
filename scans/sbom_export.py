"""Exports of scan reports (the ``scanimage`` JSON objects) as CycloneDX and SARIF documents.

Input is the per-platform report dict of the CLI contract (``image``, ``digest``, ``platform``,
``os``, ``packages``, ``findings``), so exports never touch the ORM.
"""

from __future__ import annotations

import json

from cyclonedx.model import Property
from cyclonedx.model.bom import Bom
from cyclonedx.model.component import Component, ComponentType
from cyclonedx.output.json import JsonV1Dot6
from packageurl import PackageURL

__all__ = ["SEVERITY_ORDER", "to_cyclonedx", "to_sarif"]

SEVERITY_ORDER = {"unknown": 0, "none": 0, "low": 1, "medium": 2, "high": 3, "critical": 4}
_SARIF_LEVEL = {"critical": "error", "high": "error", "medium": "warning", "low": "note"}
SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"


def to_cyclonedx(reports: list[dict]) -> str:
    """A CycloneDX 1.6 JSON document of the reports' packages.

    One platform: the image is the BOM's subject and packages are top-level components.
    Several: the subject is the reference and each platform is a nested container component."""
    bom = Bom()
    if len(reports) == 1:
        subject = _container(reports[0], ref="image")
        bom.metadata.component = subject
        _add_packages(bom, subject, reports[0], bom_prefix="")
    else:
        name = reports[0]["image"] if reports else "image"
        subject = Component(name=name, type=ComponentType.CONTAINER, bom_ref="image")
        bom.metadata.component = subject
        platforms = []
        for report in reports:
            platform = _container(report, ref=f"image:{report['platform'] or report['digest']}")
            bom.components.add(platform)
            platforms.append(platform)
            _add_packages(bom, platform, report, bom_prefix=report["platform"] + ":")
        bom.register_dependency(subject, platforms)
    return JsonV1Dot6(bom).output_as_string(indent=2)


def _container(report: dict, ref: str) -> Component:
    properties = [Property(name="regscan:digest", value=report["digest"])]
    if report.get("platform"):
        properties.append(Property(name="regscan:platform", value=report["platform"]))
    os_info = report.get("os") or {}
    if os_info.get("id"):
        properties.append(
            Property(name="regscan:os", value=f"{os_info['id']} {os_info.get('version', '')}")
        )
    return Component(
        name=report["image"],
        version=report["digest"],
        type=ComponentType.CONTAINER,
        bom_ref=ref,
        properties=properties,
    )


def _add_packages(bom: Bom, parent: Component, report: dict, bom_prefix: str) -> None:
    children = []
    for package in report.get("packages", []):
        properties = [Property(name="regscan:ecosystem", value=package["ecosystem"])]
        if package.get("source_name"):
            properties.append(Property(name="regscan:source_name", value=package["source_name"]))
            properties.append(
                Property(name="regscan:source_version", value=package.get("source_version", ""))
            )
        if package.get("layer"):
            properties.append(Property(name="regscan:layer", value=package["layer"]))
        component = Component(
            name=package["name"],
            version=package["version"],
            type=ComponentType.LIBRARY,
            purl=PackageURL.from_string(package["purl"]) if package.get("purl") else None,
            bom_ref=f"{bom_prefix}{package.get('purl') or package['name']}#{len(children)}",
            properties=properties,
        )
        bom.components.add(component)
        children.append(component)
    bom.register_dependency(parent, children)


def to_sarif(reports: list[dict]) -> str:
    """A SARIF 2.1.0 log with one result per finding (rule = vulnerability id)."""
    rules: dict[str, dict] = {}
    results = []
    for report in reports:
        for finding in report.get("findings", []):
            vuln = finding["vulnerability"]
            rules.setdefault(vuln, _rule(finding))
            results.append(_result(report, finding))
    run = {
        "tool": {
            "driver": {
                "name": "regscan",
                "informationUri": "https://github.com/regscan/regscan",
                "rules": list(rules.values()),
            }
        },
        "results": results,
    }
    return json.dumps({"$schema": SARIF_SCHEMA, "version": "2.1.0", "runs": [run]}, indent=2)


def _rule(finding: dict) -> dict:
    severity = str(finding.get("severity") or "unknown").lower()
    return {
        "id": finding["vulnerability"],
        "shortDescription": {"text": finding["vulnerability"]},
        "properties": {
            "security-severity": str(finding.get("cvss_score") or ""),
            "tags": ["security", "vulnerability", severity],
        },
    }


def _result(report: dict, finding: dict) -> dict:
    severity = str(finding.get("severity") or "unknown").lower()
    fixed = finding.get("fixed_version")
    text = (
        f"{finding['package']} {finding['version']} in {report['image']} "
        f"({report.get('platform') or report['digest']}) is affected by "
        f"{finding['vulnerability']} ({severity})"
        + (f"; fixed in {fixed}" if fixed else "; no fix available")
    )
    return {
        "ruleId": finding["vulnerability"],
        "level": _SARIF_LEVEL.get(severity, "note"),
        "message": {"text": text},
        "locations": [
            {
                "logicalLocations": [
                    {"name": finding.get("purl") or finding["package"], "kind": "package"}
                ]
            }
        ],
        "properties": {k: finding.get(k) for k in ("purl", "severity", "kev", "epss", "digest")},
    }
