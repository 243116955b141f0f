"""Assembling and printing the doctor's report (text for people, ``--json`` for machines)."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Sequence
from typing import Any

from tl_otel.doctor import advice, checks, instrumentations, log_config, probes, server_model
from tl_otel.settings import resolve
from tl_otel.startup.resource import distro_version


def build(command: Sequence[str], timeout: float, send: bool) -> dict[str, Any]:
    settings = resolve()
    env = dict(os.environ)
    from tl_otel.startup.exporter_selection import destination_names

    report: dict[str, Any] = {
        "tl_otel_version": distro_version(),
        "configuration": [{"setting": name, "value": value, "source": source}
                          for name, value, source in settings.display()],
        "problems": [problem.message for problem in settings.problems],
        "exporters": destination_names(settings),
        "advice": [],
        "instrumentations": [vars(status) for status in instrumentations.statuses(env)],
        "checks": [result.as_dict() for result in checks.run_checks(settings, env, timeout)],
        "server_model": server_model.advise(command, settings.shutdown_timeout) if command else [],
        "logging": log_config.advise(command, settings.log_level, settings.logging) if command else [],
    }
    report["advice"] = advice.advise(settings, report["exporters"]["traces"])
    if send:
        report["probe_plan"] = probes.plan(settings, report["exporters"])
    return _redacted(report, settings)


def _redacted(item: Any, settings: Any) -> Any:
    """The whole report through tl-otel's one redaction step (URL userinfo, configured secrets, tokens in
    query strings): a value such as POSTHOG_HOST with a password in it is printed masked, like every line
    tl-otel writes. Always on: TL_OTEL_REDACT=false debugs what the destinations get, not what is printed
    here (a report is pasted into tickets)."""
    from tl_otel.redaction import Redactor
    from tl_otel.startup.configure import configured_secrets

    scrub = Redactor(secrets=configured_secrets(settings), extra_keys=settings.redact_keys,
                     extra_patterns=settings.redact_patterns).scrub_text

    def walk(value: Any) -> Any:
        if isinstance(value, str):
            return scrub(value)
        if isinstance(value, dict):
            return {key: walk(inner) for key, inner in value.items()}
        if isinstance(value, (list, tuple)):
            return [walk(inner) for inner in value]
        return value

    return walk(item)


def exit_status(report: dict[str, Any]) -> int:
    failed = [c for c in report["checks"] if not c["ok"]] + [p for p in report.get("probes", []) if not p["ok"]]
    return 1 if failed else 0


def print_text(report: dict[str, Any], out: Any = None) -> None:
    out = out or sys.stdout
    write = lambda line="": print(line, file=out)  # noqa: E731
    write(f"tl-otel {report['tl_otel_version']} doctor")
    write("\nconfiguration (value, and where it came from; secrets masked)")
    for row in report["configuration"]:
        if row["source"] != "default":
            write(f"  {row['setting']:32s} {row['value']:40s} {row['source']}")
    defaults = [row for row in report["configuration"] if row["source"] == "default"]
    write(f"  ({len(defaults)} more settings at their defaults: tl-otel doctor --json lists every one)")
    for problem in report["problems"]:
        write(f"  PROBLEM: {problem}")
    write("\nexporters")
    for signal, names in report["exporters"].items():
        write(f"  {signal:8s} {', '.join(names) or 'none'}")
    write("\ninstrumentations the launcher would load")
    for item in report["instrumentations"]:
        write(f"  {item['status']:5s} {item['name']:24s} {item['reason']}")
    write("\ndestinations")
    if not report["checks"]:
        write("  none besides JSON lines on stdout")
    for check in report["checks"]:
        if check["ok"]:
            write(f"  ok     {check['destination']:8s} {check['detail']} ({check['latency_ms']} ms)")
        else:
            write(f"  FAILED {check['destination']:8s} {check['detail']}")
    for probe in report.get("probes", []):
        write(f"  {'ok' if probe['ok'] else 'FAILED':6s} {probe['destination']:16s} {probe['detail']}")
    if report["advice"]:
        write("\nadvice")
        for line in report["advice"]:
            write(f"  - {line}")
    if report["server_model"]:
        write("\nserver model")
        for advice in report["server_model"]:
            write(f"  - {advice}")
    if report.get("logging"):
        write("\nlogging (the command's own configuration, and what tl-otel does about it)")
        for advice in report["logging"]:
            write(f"  - {advice}")


def main(command: Sequence[str], timeout: float, send: bool, as_json: bool) -> int:
    report = build(command, timeout, send)
    if send and not as_json:
        # Said before anything is sent: the probes reach real channels (a Slack channel, an inbox, a project).
        print("--send: sending now, once each:", flush=True)
        for line in report["probe_plan"]:
            print(f"  - {line}", flush=True)
        print(flush=True)
    if send:
        # The probes' results are printed too: the same redaction as the rest of the report.
        report["probes"] = _redacted(probes.send(timeout), resolve())
    if as_json:
        print(json.dumps(report, indent=2))
    else:
        print_text(report)
    return exit_status(report)
