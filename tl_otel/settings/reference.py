"""Renders docs/configuration.md from the registry (``python -m tl_otel.settings.reference``); a test
keeps the committed file equal to this output."""

from __future__ import annotations

from tl_otel.settings.registry import SETTINGS

HEADER = """# Configuration reference

Generated from `tl_otel/settings/registry.py` by `python -m tl_otel.settings.reference > docs/configuration.md`;
`tests/test_docs.py` fails when this file and the registry disagree.

**Precedence**, the same for every setting: `tl_otel.configure()` argument > `TL_OTEL_*` variable >
`POSTHOG_*` / `SCOUT_*` variable > `OTEL_*` variable > default. Each row lists its variables in that order.
An empty variable counts as unset.

**Bad values** never stop the application: tl-otel prints one warning naming the variable, the value and
what is accepted, and uses the default. With `TL_OTEL_STRICT=true` start-up stops instead (under the
launcher: exit status 2 and the message on stderr; `configure()` raises `tl_otel.ConfigurationError`).
An invalid `OTEL_*` value is also removed from the process environment, so SDK components built later by
anyone treat it as unset instead of raising `ValueError`.

**Destinations go where you said, or nowhere.** Every setting that names where data is sent
(`POSTHOG_HOST`, `TL_OTEL_POSTHOG_API_HOST`, the Scout core agent socket, `OTEL_EXPORTER_OTLP_ENDPOINT`,
`TL_OTEL_ALERT_SLACK_WEBHOOK_URL`, `TL_OTEL_SMTP_HOST`, `TL_OTEL_ALERT_REDIS_URL`) is read by one parser. A
form without a scheme is your host: `posthog.internal:8000` is `http://posthog.internal:8000` (`https://` for
port 443 or no port), Scout's `host:port` is `tcp://host:port`, Redis's is `redis://host:port`. A value that
cannot be read as a host (`http://`, `tcp://:6590`, `ftp://…`, an SMTP host with a port or a scheme) is
refused with one warning, and that destination is off: it never falls back to the default host
(PostHog's cloud, `localhost:4318`, `127.0.0.1:6590`), and a refused `OTEL_*` endpoint is left in the
environment as it was (so the SDK does not use its default either) while the `otlp` exporters are not
started. `TL_OTEL_STRICT=true` makes a refused endpoint stop start-up like any bad value.

**Secrets** (marked below) are never printed: wherever settings are shown they appear as
`<secret, N chars>`.
"""


def _default(setting) -> str:
    if setting.default_doc is not None:
        return setting.default_doc
    if setting.default is None:
        return "unset"
    if isinstance(setting.default, bool):
        return "`true`" if setting.default else "`false`"
    return f"`{setting.default}`"


def render_markdown() -> str:
    lines = [HEADER]
    group = None
    for setting in SETTINGS:
        if setting.group != group:
            group = setting.group
            lines.append(f"\n## {group.capitalize()}\n")
            lines.append("| setting (`configure()` name) | variables | default | meaning |")
            lines.append("| --- | --- | --- | --- |")
        variables = ", ".join(f"`{name}`" for name in setting.env)
        secret = " **secret**" if setting.secret else ""
        lines.append(f"| `{setting.name}`{secret} | {variables} | {_default(setting)} | {setting.doc} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(render_markdown(), end="")
