"""``tl-otel doctor -- <start command>`` reports the logging configuration it can see on the command line (a
server's --log-config file, the access log's destination) and what tl-otel will do about it."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.conftest import REPO, clean_env

UVICORN_CONFIG = {
    "version": 1,
    "disable_existing_loggers": True,
    "formatters": {"plain": {"format": "%(levelname)s %(message)s"}},
    "handlers": {"default": {"class": "logging.StreamHandler", "formatter": "plain", "stream": "ext://sys.stderr"},
                 "access": {"class": "logging.StreamHandler", "formatter": "plain", "stream": "ext://sys.stdout"}},
    "loggers": {"uvicorn.access": {"handlers": ["access"], "level": "INFO", "propagate": False}},
    "root": {"handlers": ["default"], "level": "WARNING"},
}
GUNICORN_INI = """
[loggers]
keys=root
[handlers]
keys=console
[formatters]
keys=plain
[logger_root]
level=DEBUG
handlers=console
[handler_console]
class=StreamHandler
formatter=plain
args=(sys.stderr,)
[formatter_plain]
format=%(message)s
"""


def doctor(*command: str, **env: str) -> dict:
    done = subprocess.run([sys.executable, "-m", "tl_otel.cli", "doctor", "--json", "--timeout", "1", "--", *command],
                          env=clean_env(**env), cwd=REPO, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_uvicorn_log_config_file_is_described_with_what_tl_otel_does(tmp_path):
    path = tmp_path / "logging.json"
    path.write_text(json.dumps(UVICORN_CONFIG))
    advice = doctor("uvicorn", "app:app", "--log-config", str(path))["logging"]
    text = "\n".join(advice)
    assert f"uvicorn --log-config {path}" in text
    assert "root logger: handlers default, level WARNING" in text and "not one of the root logger's handlers" in text
    assert "root level WARNING is above TL_OTEL_LOG_LEVEL=info" in text
    assert "disable_existing_loggers is true" in text and "tl-otel's own logger is exempt" in text
    assert "logger 'uvicorn.access' does not propagate" in text
    assert "handler(s) access write plain text to stdout" in text


def test_gunicorn_ini_log_config_and_access_log_on_stdout(tmp_path):
    path = tmp_path / "logging.ini"
    path.write_text(GUNICORN_INI)
    text = "\n".join(doctor("gunicorn", "app:app", "--log-config", str(path), "--access-logfile", "-")["logging"])
    assert "root logger: handlers console, level DEBUG" in text and "above TL_OTEL_LOG_LEVEL" not in text
    assert "--access-logfile - writes the access log to stdout" in text


@pytest.mark.parametrize(("command", "expected"), [
    (["uvicorn", "app:app"], "add --no-access-log"),
    (["uvicorn", "app:app", "--log-config", "/nonexistent/logging.yaml"], "could not be read"),
    (["celery", "-A", "app", "worker"], "treated as the default"),
])
def test_command_line_logging_advice(command, expected):
    assert expected in "\n".join(doctor(*command)["logging"])


def test_logging_off_is_reported():
    assert doctor("uvicorn", "app:app", TL_OTEL_LOGGING="false")["logging"] == [
        "TL_OTEL_LOGGING=false: tl-otel leaves logging alone and exports no log records"]
