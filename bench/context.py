"""What the figures share in one run: the options, the registry with its images, a template
regscan installation (migrated, vulndata imported) and the results collected so far."""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from .images import CACHE, Fixture, build_fixture, build_large_fixture
from .instance import Instance
from .registry import AccessLog, BenchRegistry

__all__ = ["Context", "log"]


def log(message: str) -> None:
    """Progress goes to stderr; the table and JSON are the only things on stdout."""
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


@dataclass
class Context:
    args: argparse.Namespace
    results: dict = field(default_factory=dict)
    rows: list[dict] = field(default_factory=list)
    _fixture: Fixture | None = None
    _registry: BenchRegistry | None = None
    _template: Instance | None = None
    _started: list = field(default_factory=list)

    # --- The registry of R x T images -----------------------------------------------------
    @property
    def fixture(self) -> Fixture:
        if self._fixture is None:
            a = self.args
            log(f"set-up: {a.repos} repositories x {a.tags} tags, base layer {a.base_mb} MB")
            self._fixture = build_fixture(a.repos, a.tags, a.base_mb, log=log)
            f = self._fixture
            log(
                f"set-up: {len(f.images)} tags, {f.unique_layers} unique layers, "
                f"{f.unique_layer_bytes / 1e6:.1f} MB (built in {f.build_seconds}s)"
            )
        return self._fixture

    @property
    def registry(self) -> BenchRegistry:
        if self._registry is None:
            self._registry = BenchRegistry(Path(self.fixture.root)).start()
            self._started.append(self._registry)
        return self._registry

    @property
    def access_log(self) -> AccessLog:
        return AccessLog(self.registry.access_log)

    def large(self) -> tuple[Fixture, BenchRegistry]:
        """The registry holding the large-layer image (started on first use)."""
        fixture = build_large_fixture(self.args.base_mb, self.args.large_mb, log=log)
        registry = BenchRegistry(Path(fixture.root)).start()
        self._started.append(registry)
        return fixture, registry

    # --- regscan installations ------------------------------------------------------------
    @property
    def template(self) -> Instance:
        """A migrated installation with the first vulndata slice imported (copied per run)."""
        if self._template is None:
            log("regscan: creating a template installation (migrate, bootstrap, importvulns)")
            started = time.perf_counter()
            self._template = Instance(CACHE / "runs" / "template").create()
            log(f"regscan: template ready in {time.perf_counter() - started:.1f}s")
        return self._template

    def instance(self, name: str, workers: int = 1) -> Instance:
        return self.template.clone(CACHE / "runs" / name, workers=workers)

    def close(self) -> None:
        for registry in self._started:
            registry.stop()
        self._started.clear()

    # --- Results --------------------------------------------------------------------------
    def add(self, figure: str, metric: str, value, goal: str = "", met: bool | None = None) -> None:
        """One line of the table; ``met`` is None when the line has no goal."""
        self.rows.append(
            {"figure": figure, "metric": metric, "value": value, "goal": goal, "met": met}
        )
