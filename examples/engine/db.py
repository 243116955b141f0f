"""The engine catalogue and execution records, through SQLAlchemy."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache

from sqlalchemy import JSON, DateTime, Float, String, create_engine, select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError, OperationalError, ProgrammingError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from examples.engine.config import database_url


class Base(DeclarativeBase):
    pass


class EngineDefinition(Base):
    __tablename__ = "engines"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(32))


class Execution(Base):
    __tablename__ = "executions"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    engine_id: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16))
    input: Mapped[dict] = mapped_column(JSON)
    result: Mapped[dict | None] = mapped_column(JSON, nullable=True)
    error: Mapped[str | None] = mapped_column(String(500), nullable=True)
    duration_ms: Mapped[float | None] = mapped_column(Float, nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))


CATALOGUE = (
    EngineDefinition(id="engine-123", name="Price calculator", kind="pricing"),
    EngineDefinition(id="engine-slow", name="Nightly report", kind="report"),
    EngineDefinition(id="engine-broken", name="Legacy importer (always fails)", kind="broken"),
)


@cache
def engine() -> Engine:
    bound = create_engine(database_url(), pool_pre_ping=True)
    # Several workers (uvicorn --workers, gunicorn, Celery children) start at once on one database: the
    # loser of a create-table or catalogue-insert race sees "already exists" / a duplicate key, and the
    # second attempt finds what the winner made.
    for attempt in range(2):
        try:
            _create_schema_and_catalogue(bound)
            break
        except (OperationalError, IntegrityError, ProgrammingError):
            if attempt:
                raise
    return bound


def _create_schema_and_catalogue(bound: Engine) -> None:
    Base.metadata.create_all(bound)
    with Session(bound) as session:
        existing = set(session.scalars(select(EngineDefinition.id)))
        session.add_all(
            EngineDefinition(id=item.id, name=item.name, kind=item.kind)
            for item in CATALOGUE
            if item.id not in existing
        )
        session.commit()


@contextmanager
def session() -> Iterator[Session]:
    with Session(engine(), expire_on_commit=False) as current:
        yield current
