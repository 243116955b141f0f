"""Where the example engine keeps its data and finds its broker, from the environment.

Embedded defaults need no server at all: SQLite for the database and kombu's filesystem transport for
Celery. ``DATABASE_URL`` (e.g. postgresql+psycopg://...) and ``CELERY_BROKER_URL`` / ``REDIS_URL`` switch
to real servers."""

from __future__ import annotations

import os
from pathlib import Path


def data_dir() -> Path:
    path = Path(os.environ.get("ENGINE_DATA_DIR", ".demo")).resolve()
    path.mkdir(parents=True, exist_ok=True)
    return path


def database_url() -> str:
    return os.environ.get("DATABASE_URL") or f"sqlite:///{data_dir() / 'engine.sqlite3'}"


def broker_url() -> str:
    return os.environ.get("CELERY_BROKER_URL") or os.environ.get("REDIS_URL") or "filesystem://"


def broker_folder() -> Path:
    path = data_dir() / "broker"
    (path / "processed").mkdir(parents=True, exist_ok=True)
    return path


def api_url() -> str:
    """The Engine API as the worker reaches it (it fetches engine definitions from there)."""
    return os.environ.get("ENGINE_API_URL", "http://127.0.0.1:8000").rstrip("/")


def pricing_url() -> str | None:
    """A remote pricing service the API asks for quotes; without one, quotes are computed locally."""
    url = os.environ.get("PRICING_URL")
    return url.rstrip("/") if url else None
