"""Instrumentations and the application's library versions.

The launcher checks each instrumentation's declared library range before loading it and skips it on a
conflict. tl-otel never moves the application's versions (its extras bring no frameworks), so this module
decides, at that one check, what happens instead:

- an instrumentation whose declared range is narrower than what works, for versions tl-otel's own tests run
  it against (``OVERRIDES``), is applied anyway and the start-up line says so (``instrumentations_adapted``);
- any other version conflict (the library is installed, at a version the instrumentation does not support)
  is named on the start-up line (``instrumentations_unsupported``) with one WARNING, instead of the
  launcher's quiet skip;
- a part of an instrumentation is patched when the application imports its module, not imported for the
  patch (SQLAlchemy's asyncio extension: it brings the ORM, and cannot be imported without ``greenlet``,
  which is then named as not traced).

``tl-otel doctor`` reports the same decisions (:func:`override_for`)."""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from tl_otel.diagnostics.self_log import logger
from tl_otel.integrations import sqlalchemy


@dataclass(frozen=True)
class VersionOverride:
    instrumentation: str  # the entry point name
    library: str  # the distribution whose version the instrumentation checks
    verified: str  # versions tl-otel's tests run the instrumentation against (a PEP 440 specifier)
    # (module the instrumentation patches, what is not traced without it, the package it needs to import)
    optional_modules: tuple[tuple[str, str, str], ...] = ()


# One entry per library whose instrumentation tl-otel applies beyond its declared range; the reason is in the
# library's integration module.
OVERRIDES: dict[str, VersionOverride] = {
    override.instrumentation: override for override in (VersionOverride(*sqlalchemy.VERSION_OVERRIDE),)
}

adapted: dict[str, str] = {}
unsupported: dict[str, str] = {}


def _installed_version(distribution: str) -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(distribution)
    except PackageNotFoundError:
        return None


def override_for(name: str) -> tuple[VersionOverride, str] | None:
    """The override that applies to instrumentation ``name`` with the installed library, and that version."""
    override = OVERRIDES.get(name)
    if override is None:
        return None
    installed = _installed_version(override.library)
    if installed is None:
        return None
    from packaging.specifiers import SpecifierSet

    if not SpecifierSet(override.verified).contains(installed, prereleases=True):
        return None
    return override, installed


def requirement_text(conflict: Any) -> str:
    """What the instrumentation requires, without the ``extra == "instruments"`` marker."""
    from packaging.requirements import Requirement

    texts = []
    for item in [conflict.required] if conflict.required else list(conflict.required_any or ()):
        try:
            requirement = Requirement(str(item))
            texts.append(f"{requirement.name}{requirement.specifier}")
        except Exception:
            texts.append(str(item))
    return ", ".join(texts)


def installed_text(conflict: Any) -> str:
    return conflict.found or ", ".join(conflict.found_any or ())


def _instrumentation_name(dist: Any) -> str:
    name = str(getattr(dist, "name", None) or getattr(dist, "metadata", {}).get("Name", "") or "?")
    return name.removeprefix("opentelemetry-instrumentation-")


def checked(original: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """The launcher's dependency check, with tl-otel's decisions (see the module docstring)."""

    def check(dist: Any) -> Any:
        conflict = original(dist)
        if conflict is None or not getattr(conflict, "_is_version_conflict", bool(conflict.found)):
            return conflict  # compatible, or the library is not installed: the launcher's own handling
        name = _instrumentation_name(dist)
        found = override_for(name)
        if found is not None:
            override, installed = found
            adapted[name] = (f"applied to {override.library} {installed} beyond its declared "
                             f"{requirement_text(conflict)} (verified by tl-otel)")
            return None
        message = (f"installed {installed_text(conflict)} is outside what {getattr(dist, 'name', name)} "
                   f"supports ({requirement_text(conflict)}): not traced")
        if name not in unsupported:
            unsupported[name] = message
            logger.warning("instrumentation %s: %s", name, message)
        return conflict

    return check


@contextlib.contextmanager
def launcher_checks() -> Iterator[None]:
    """While the launcher loads instrumentors, its dependency check is :func:`checked`'s."""
    try:
        from opentelemetry.instrumentation.auto_instrumentation import _load
    except Exception:
        yield
        return
    original = getattr(_load, "get_dist_dependency_conflicts", None)
    if original is None:
        yield
        return
    _load.get_dist_dependency_conflicts = checked(original)
    try:
        yield
    finally:
        _load.get_dist_dependency_conflicts = original


def _missing_parts(name: str) -> dict[str, str]:
    override = OVERRIDES.get(name)
    return {module: what for module, what, needs in (override.optional_modules if override else ())
            if importlib.util.find_spec(needs) is None}


def missing_parts(name: str) -> list[str]:
    """What instrumentation ``name`` will not trace here because a module it patches cannot be imported."""
    return [f"not traced: {what}" for what in _missing_parts(name).values()]


def instrument_with_deferred_parts(name: str, instrument: Callable[[], Any]) -> Any:
    """Run ``instrument`` so that a module of ``OVERRIDES[name].optional_modules`` is patched when the
    application imports it (at once if it already has), not imported for the patch: SQLAlchemy's asyncio
    extension costs a few hundred milliseconds of start-up (it brings the ORM) to apps without async
    engines, and cannot be imported at all without greenlet."""
    override = OVERRIDES.get(name)
    if override is None or not override.optional_modules:
        return instrument()
    instrumentation = importlib.import_module(f"opentelemetry.instrumentation.{name}")
    wrap = getattr(instrumentation, "_w", None)
    if wrap is None:
        return instrument()
    deferred = {module for module, _, _ in override.optional_modules}

    def wrap_when_imported(module: Any, target: str, wrapper: Any) -> Any:
        if isinstance(module, str) and module in deferred and module not in sys.modules:
            from wrapt import register_post_import_hook

            register_post_import_hook(lambda imported: wrap(imported, target, wrapper), module)
            return None
        return wrap(module, target, wrapper)

    instrumentation._w = wrap_when_imported
    try:
        result = instrument()
    finally:
        instrumentation._w = wrap
    missing = missing_parts(name)
    if missing:
        note = "; ".join(missing)
        adapted[name] = f"{adapted[name]}; {note}" if name in adapted else note
    return result
