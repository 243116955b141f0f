"""What tl-otel adds to each library, one module per library: ``fastapi`` (the endpoint Scout names a request
after, the instrumentor's options), ``celery`` (a task run's outcome, prefork children's flush, the task
logger), ``sqlalchemy`` (one span per query, SQLAlchemy 2.1), ``logging`` (the bridge into OpenTelemetry log
records), ``servers`` (the exits of uvicorn, gunicorn and plain processes: atexit, SIGTERM).

The hooks are installed at start-up; what they do then runs on the application's threads."""
