"""Which installed libraries are the application's own, read from the installed distributions' requirements.

A library another installed distribution requires came with it (click with Celery and uvicorn, starlette with
FastAPI, urllib3 with requests, pydantic with FastAPI, psutil with whatever needs it): what the application
does with it is traced by the instrumentation of the package that uses it, and advising an instrumentation
for it adds spans nobody asked for. A library nothing requires was installed for the application itself. A
project installed from a local directory (PEP 610 ``dir_info``, or metadata kept in the project: the
application's own package, tl-otel from a clone) is not counted as bringing anything: what it requires is
what the application chose."""

from __future__ import annotations

import re
from functools import lru_cache

_EXTRA = re.compile(r"""extra\s*==\s*["']([^"']+)["']""")


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _local_project(dist: object) -> bool:
    """Installed from a local directory: PEP 610 says so, or its metadata lives outside site-packages (a
    legacy editable install keeps it in the project)."""
    import json
    import site

    try:
        direct = json.loads(dist.read_text("direct_url.json") or "{}")  # type: ignore[attr-defined]
        if "dir_info" in direct:
            return True
        location = str(dist.locate_file(""))  # type: ignore[attr-defined]
    except Exception:
        return False
    return not any(location.startswith(path) for path in [*site.getsitepackages(), site.getusersitepackages()])


@lru_cache(maxsize=1)
def required_by() -> dict[str, frozenset[str]]:
    """Library (canonical name) -> the installed distributions (not local projects) whose requirements name
    it. A requirement of an extra that bundles several libraries counts (``fastapi[standard]`` brings jinja2 with
    the rest); a one-library extra does not (asking for it is choosing that library); a requirement whose marker
    does not hold here (another platform, another Python) does not."""
    from importlib.metadata import distributions

    from packaging.requirements import InvalidRequirement, Requirement

    found: dict[str, set[str]] = {}
    for dist in distributions():
        if _local_project(dist):
            continue
        owner = _canonical(dist.metadata["Name"] or "")
        bundles: dict[str, set[str]] = {}
        for text in dist.requires or []:
            try:
                requirement = Requirement(text)
            except InvalidRequirement:
                continue
            extra = _EXTRA.search(str(requirement.marker)) if requirement.marker is not None else None
            if requirement.marker is not None:
                try:
                    if not requirement.marker.evaluate({"extra": extra.group(1) if extra else ""}):
                        continue
                except Exception:
                    continue
            bundles.setdefault(extra.group(1) if extra else "", set()).add(_canonical(requirement.name))
        for extra_name, names in bundles.items():
            if extra_name and len(names) < 2:
                continue  # celery[pymemcache], sqlalchemy[asyncpg]: naming that extra is choosing the library
            for name in names - {owner}:
                found.setdefault(name, set()).add(owner)
    return {name: frozenset(owners) for name, owners in found.items()}


def brought_by(library: str) -> frozenset[str]:
    """The installed distributions that require ``library`` (empty: the application installed it itself)."""
    return required_by().get(_canonical(library), frozenset())


def is_dbapi_driver(library: str) -> bool:
    """Whether the library's top-level module is a PEP 249 (DB-API 2.0) driver: it says so in ``apilevel``."""
    import importlib
    from importlib.metadata import packages_distributions

    modules = [module for module, dists in packages_distributions().items()
               if any(_canonical(dist) == _canonical(library) for dist in dists) and not module.startswith("_")]
    for module in modules:
        try:
            if getattr(importlib.import_module(module), "apilevel", None) == "2.0":
                return True
        except Exception:
            continue
    return False
