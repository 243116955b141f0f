"""Local stand-ins that speak real protocols: PostHog's capture API and Scout's core agent. The test suite
and the demo run tl-otel against them, so nothing needs a key or an external server."""
