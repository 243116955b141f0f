"""A Celery app for the gevent and eventlet pools on Redis: the queue (and so the broker's keys) is named by
GREEN_QUEUE, so a test run meets no other run's messages. One task sleeps briefly (cooperatively under a green
pool) and returns; one fails, for the error-rate alert."""

from __future__ import annotations

import os
import time

from celery import Celery

if os.environ.get("GREEN_CONFIGURE") == "1":
    import tl_otel

    tl_otel.configure()

queue = os.environ.get("GREEN_QUEUE", "green-pool")
celery_app = Celery("green_pool", broker=os.environ.get("GREEN_BROKER_URL", "redis://127.0.0.1:6379/0"))
celery_app.conf.update(task_ignore_result=True, task_default_queue=queue, worker_prefetch_multiplier=4,
                       broker_connection_retry_on_startup=True)


@celery_app.task(name="green_pool.io_bound")
def io_bound(number: int) -> int:
    time.sleep(0.05)  # patched by the pool's monkey patching: other tasks run meanwhile
    return number


@celery_app.task(name="green_pool.fails")
def fails(number: int) -> None:
    raise RuntimeError(f"green task {number} failed")
