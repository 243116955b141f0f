"""The resource every signal carries: service identity, this process, and which distro produced it."""

from __future__ import annotations

import functools
import os
import socket
import sys
from typing import Any

from opentelemetry.sdk.resources import Resource

DISTRO_NAME = "tl-otel"


@functools.lru_cache(maxsize=1)
def distro_version() -> str:
    """Looked up once: each lookup scans the installed distributions' metadata."""
    try:
        from importlib.metadata import version

        return version("tl-otel")
    except Exception:
        return "unknown"


def refresh_process_pid(resource: Resource) -> None:
    """In a forked child, make the inherited resource name this process: every provider, tracer and logger
    holds the same object, and the fork gave the child its own copy of it. Its attributes are frozen
    through the public API, so the bounded mapping's dictionary is written directly."""
    attributes = getattr(resource.attributes, "_dict", None)
    if isinstance(attributes, dict) and "process.pid" in attributes:
        attributes["process.pid"] = os.getpid()


# With no name set anywhere the SDK names the service after the interpreter's file name, which differs with
# how the process was started (python, python3, python3.11: the app under the launcher and `tl-otel doctor`
# disagreed). One name for every process of an unnamed service.
DEFAULT_SERVICE_NAME = "unknown_service:python"


def _sdk_default_service_name() -> str:
    return f"unknown_service:{os.path.basename(sys.executable)}" if sys.executable else "unknown_service"


def build_resource(settings: Any, redactor: Any = None) -> Resource:
    attributes: dict[str, Any] = {
        "telemetry.distro.name": DISTRO_NAME,
        "telemetry.distro.version": distro_version(),
        "process.pid": os.getpid(),
        "host.name": socket.gethostname(),
    }
    if settings.service_name:
        attributes["service.name"] = settings.service_name
    if settings.environment:
        attributes["deployment.environment.name"] = settings.environment
    # Resource.create merges OTEL_RESOURCE_ATTRIBUTES and OTEL_SERVICE_NAME under these attributes.
    resource = Resource.create(attributes)
    if resource.attributes.get("service.name") == _sdk_default_service_name():
        resource = resource.merge(Resource({"service.name": DEFAULT_SERVICE_NAME}, resource.schema_url))
    if redactor is None or not redactor.enabled:
        return resource
    # OTEL_RESOURCE_ATTRIBUTES is free text: a token pasted into it would ride on every item.
    return Resource(redactor.redact_resource_attributes(resource.attributes), resource.schema_url)


_identities: dict[int, tuple[Any, Any]] = {}
# A forked child keeps the parent's resource object (tl-otel rewrites its process.pid in the child): the
# cache built in the parent must not answer for it.
os.register_at_fork(after_in_child=_identities.clear)


def identity(resource: Any) -> tuple[Any, Any]:
    """``service.name`` and ``process.pid`` of a resource, looked up once per resource object (every record of
    a provider shares one; BoundedAttributes lookups go through the Mapping ABC)."""
    if resource is None:
        return None, None
    key = id(resource)
    try:
        return _identities[key]
    except KeyError:
        if len(_identities) > 64:
            _identities.clear()
        attributes = resource.attributes
        found = _identities[key] = (attributes.get("service.name"), attributes.get("process.pid"))
        return found
