"""Sampling that decides what is exported without hiding local roots from tl-otel's processors.

The configured sampler still decides which traces are exported. When it drops a trace at a local root
(no parent, or a remote parent), the root is recorded anyway but not sampled: the exporters skip it,
while alerting and business-event processors still count it. Children of such a root stay dropped,
so the cost of an unsampled trace is one recorded span."""

from __future__ import annotations

from collections.abc import Sequence

from opentelemetry.context import Context
from opentelemetry.sdk.trace.sampling import Decision, Sampler, SamplingResult
from opentelemetry.trace import Link, SpanKind, get_current_span
from opentelemetry.trace.span import TraceState
from opentelemetry.util.types import Attributes


class LocalRootRecordingSampler(Sampler):
    def __init__(self, delegate: Sampler) -> None:
        self.delegate = delegate

    def should_sample(
        self,
        parent_context: Context | None,
        trace_id: int,
        name: str,
        kind: SpanKind | None = None,
        attributes: Attributes = None,
        links: Sequence[Link] | None = None,
        trace_state: TraceState | None = None,
    ) -> SamplingResult:
        result = self.delegate.should_sample(
            parent_context, trace_id, name, kind, attributes, links, trace_state
        )
        if result.decision is Decision.DROP:
            parent = get_current_span(parent_context).get_span_context()
            if not parent.is_valid or parent.is_remote:
                return SamplingResult(Decision.RECORD_ONLY, result.attributes, result.trace_state)
        return result

    def get_description(self) -> str:
        return f"LocalRootRecording{{{self.delegate.get_description()}}}"
