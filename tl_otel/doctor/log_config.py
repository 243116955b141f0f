"""What the doctor can see of the application's logging configuration on its start command line
(``tl-otel doctor -- uvicorn app:app --log-config logging.yaml``), and what tl-otel will do about it."""

from __future__ import annotations

import configparser
import json
import logging
import os
from collections.abc import Sequence
from typing import Any

from tl_otel.doctor.server_model import _option as option

_BRIDGE = ("tl-otel's bridge is not one of the root logger's handlers: every record that reaches the root still "
           "becomes one JSON line after the configuration's own handlers ran, whatever it does to the root")


def _load(path: str) -> tuple[dict[str, Any] | None, str | None]:
    """The configuration as a dictConfig-shaped dict (an .ini file is mapped onto the same keys)."""
    try:
        if path.endswith(".json"):
            with open(path, encoding="utf-8") as file:
                return json.load(file), None
        if path.endswith((".yaml", ".yml")):
            try:
                import yaml
            except ImportError:
                return None, "PyYAML is not installed here, so the file could not be read"
            with open(path, encoding="utf-8") as file:
                return yaml.safe_load(file), None
        parser = configparser.ConfigParser(interpolation=None)
        if not parser.read(path, encoding="utf-8"):
            return None, "the file could not be read"
        return _from_ini(parser), None
    except Exception as exc:
        return None, f"the file could not be read ({type(exc).__name__}: {exc})"


def _from_ini(parser: configparser.ConfigParser) -> dict[str, Any]:
    config: dict[str, Any] = {"handlers": {}, "loggers": {}, "disable_existing_loggers": True}
    for name in filter(None, (key.strip() for key in parser.get("handlers", "keys", fallback="").split(","))):
        section = parser[f"handler_{name}"] if parser.has_section(f"handler_{name}") else {}
        config["handlers"][name] = {"class": section.get("class", ""), "args": section.get("args", "")}
    for name in filter(None, (key.strip() for key in parser.get("loggers", "keys", fallback="").split(","))):
        section = parser[f"logger_{name}"] if parser.has_section(f"logger_{name}") else {}
        entry = {"level": section.get("level"), "handlers": [h.strip() for h in section.get("handlers", "").split(",")
                                                             if h.strip()],
                 "propagate": section.get("propagate", "1") not in ("0", "false", "False")}
        if name == "root":
            config["root"] = entry
        else:
            config["loggers"][section.get("qualname", name)] = entry
    return config


def _to_stdout(handler: dict[str, Any]) -> bool:
    return "sys.stdout" in str(handler.get("stream", "")) or "sys.stdout" in str(handler.get("args", ""))


def describe_config(config: dict[str, Any], log_level: str) -> list[str]:
    lines: list[str] = []
    handlers = config.get("handlers") or {}
    root = config.get("root")
    if root is None and isinstance(config.get("loggers"), dict) and "" in config["loggers"]:
        root = config["loggers"][""]
    if root:
        level = str(root.get("level") or "").upper()
        lines.append(f"root logger: handlers {', '.join(root.get('handlers') or []) or 'none'}"
                     f"{', level ' + level if level else ''}; {_BRIDGE}")
        tl_level = logging.getLevelName(log_level.upper())
        app_level = logging.getLevelName(level) if level else None
        if isinstance(app_level, int) and isinstance(tl_level, int) and app_level > tl_level:
            lines.append(f"root level {level} is above TL_OTEL_LOG_LEVEL={log_level}: records below {level} are "
                         f"never made, so tl-otel exports {level} and above (lower the root level to export more)")
        elif not level:
            lines.append(f"the root level is left at Python's default: tl-otel lowers it to TL_OTEL_LOG_LEVEL="
                         f"{log_level} for its own export only; these handlers still get WARNING and above")
    else:
        lines.append("no root section: the root logger keeps what it had; " + _BRIDGE)
    if config.get("disable_existing_loggers", True):
        lines.append("disable_existing_loggers is true (the default): loggers created before this configuration "
                     "is applied and not named in it are silenced for everyone; tl-otel's own logger is exempt")
    for name, logger in (config.get("loggers") or {}).items():
        if name and logger and logger.get("propagate") is False:
            lines.append(f"logger {name!r} does not propagate: tl-otel takes its records at WARNING and above")
    stdout = sorted(name for name, handler in handlers.items() if isinstance(handler, dict) and _to_stdout(handler))
    if stdout:
        lines.append(f"handler(s) {', '.join(stdout)} write plain text to stdout, between the JSON lines: point them "
                     "at ext://sys.stderr (or a file) to keep stdout all JSON")
    return lines


def advise(command: Sequence[str], log_level: str, bridged: bool = True) -> list[str]:
    if not bridged:
        return ["TL_OTEL_LOGGING=false: tl-otel leaves logging alone and exports no log records"]
    args = list(command)
    if args and os.path.basename(args[0]) == "opentelemetry-instrument":
        args = args[1:]
    if not args:
        return []
    program = os.path.basename(args[0])
    if program in ("python", "python3") and len(args) > 2 and args[1] == "-m":
        program, args = args[2], args[2:]
    lines: list[str] = []
    path = option(args, "--log-config")
    config = None
    if program in ("uvicorn", "gunicorn") and path:
        lines.append(f"{program} --log-config {path}: applied by the server after tl-otel configured")
        config, problem = _load(path)
        if config is None:
            lines.append(f"{path}: {problem}; {_BRIDGE}")
        else:
            lines.extend(describe_config(config, log_level))
    if program == "uvicorn":
        if "--no-access-log" not in args and config is None:
            lines.append("uvicorn writes its access log to stdout, between the JSON lines: add --no-access-log (each "
                         "request's span line has method, route, status and duration) to keep stdout all JSON")
        lines.append("uvicorn's own loggers do not propagate: tl-otel takes their WARNING and above (e.g. "
                     "'Exception in ASGI application', with the failed request's trace id)")
    elif program == "gunicorn":
        if option(args, "--access-logfile") == "-":
            lines.append("gunicorn --access-logfile - writes the access log to stdout, between the JSON lines: "
                         "leave it out or give it a file to keep stdout all JSON")
        lines.append("gunicorn.error does not propagate: tl-otel takes its WARNING and above")
    elif program == "celery":
        level = (option(args, "-l", "--loglevel") or "WARNING").upper()
        if level == "WARNING":
            lines.append(f"celery --loglevel {level}: treated as the default; tl-otel exports TL_OTEL_LOG_LEVEL="
                         f"{log_level} and above, Celery's own output stays at WARNING")
        else:
            lines.append(f"celery --loglevel {level}: the application's level; tl-otel exports the higher of it "
                         f"and TL_OTEL_LOG_LEVEL={log_level}")
    return lines
