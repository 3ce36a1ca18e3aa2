"""The lock-free histograms of server/metrics.py expose what prometheus-client's
`Histogram` exposes for the same observations (its `_created` samples aside)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry, Histogram
from prometheus_client.exposition import generate_latest

from reactor.server.metrics import LATENCY_BUCKETS, LabelledLoopHistogram, LoopHistogram

# Bounds themselves included: an observation equal to a bound counts in its bucket.
values = st.one_of(st.sampled_from(LATENCY_BUCKETS),
                   st.floats(min_value=0, max_value=20, allow_nan=False))


def exposed(registry: CollectorRegistry) -> list[str]:
    return [line for line in generate_latest(registry).decode().splitlines()
            if "_created" not in line]


@settings(max_examples=60, deadline=None)
@given(st.lists(values, max_size=30))
def test_loop_histogram_exposes_as_a_histogram(observations: list[float]) -> None:
    ours, theirs = CollectorRegistry(), CollectorRegistry()
    mine = LoopHistogram("h_seconds", "doc", LATENCY_BUCKETS, ours)
    reference = Histogram("h_seconds", "doc", buckets=LATENCY_BUCKETS, registry=theirs)
    for value in observations:
        mine.observe(value)
        reference.observe(value)
    assert exposed(ours) == exposed(theirs)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["query", "mutation", "action"]), values),
                max_size=40))
def test_labelled_loop_histogram_exposes_as_a_labelled_histogram(
        observations: list[tuple[str, float]]) -> None:
    ours, theirs = CollectorRegistry(), CollectorRegistry()
    mine = LabelledLoopHistogram("h_seconds", "doc", "kind", LATENCY_BUCKETS, ours)
    reference = Histogram("h_seconds", "doc", ["kind"], buckets=LATENCY_BUCKETS,
                          registry=theirs)
    for kind, value in observations:
        mine.labels(kind).observe(value)
        reference.labels(kind).observe(value)
    assert sorted(exposed(ours)) == sorted(exposed(theirs))
