"""`/metrics` (prometheus-client text format): behind the admin key on the main port, open
on `--metrics-port`, values that move with the traffic; per-server registries."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from e2e_support import ReactorServer, free_port
from prometheus_client.parser import text_string_to_metric_families
from sync_support import http_json
from websockets.sync.client import connect

from reactor.runtime import Engine
from reactor.runtime.auth import AdminKey
from reactor.server.app import ReactorServer as InProcessServer

APP = Path(__file__).parent / "apps" / "ops"


def scrape(url: str, key: str | None = None) -> dict[str, float]:
    """Every sample as `name{label="value",...}` -> value."""
    headers = {} if key is None else {"Authorization": f"Convex {key}"}
    with urllib.request.urlopen(urllib.request.Request(url, headers=headers),
                                timeout=10) as response:
        assert response.headers["Content-Type"].startswith("text/plain")
        text = response.read().decode()
    samples: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = ",".join(f'{k}="{v}"' for k, v in sorted(sample.labels.items()))
            samples[f"{sample.name}{{{labels}}}" if labels else sample.name] = sample.value
    return samples


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ReactorServer]:
    metrics_port = free_port()
    with ReactorServer(APP, tmp_path_factory.mktemp("metrics-data"),
                       args=["--metrics-port", str(metrics_port)]) as running:
        running.metrics_port = metrics_port  # type: ignore[attr-defined]
        yield running


def test_metrics_need_the_admin_key_on_the_main_port(server: ReactorServer) -> None:
    status, body = http_json(f"{server.url}/metrics", method="GET")
    assert status == 403 and body["code"] == "Forbidden" and "/metrics" in body["message"]
    status, body = http_json(f"{server.url}/metrics", method="GET",
                             headers={"Authorization": "Convex reactor_admin_nope"})
    assert status == 401
    key = AdminKey.load_or_create(server.data_dir).value
    samples = scrape(f"{server.url}/metrics", key)
    assert "reactor_connections" in samples and "reactor_commits_total" in samples


def test_metrics_move_with_mutations_queries_and_pushes(server: ReactorServer) -> None:
    open_url = f"http://127.0.0.1:{server.metrics_port}/metrics"  # type: ignore[attr-defined]
    before = scrape(open_url)
    with connect(server.url.replace("http", "ws") + "/api/sync") as socket:
        socket.send(json.dumps({"type": "Connect", "sessionId": str(uuid.uuid4()),
                                "connectionCount": 0, "lastCloseReason": None,
                                "clientTs": time.time() * 1000}))
        socket.send('{"type":"ModifyQuerySet","baseVersion":0,"newVersion":1,"modifications":'
                    '[{"type":"Add","queryId":0,"udfPath":"notes:count","args":[{}]}]}')
        assert '"Transition"' in socket.recv(timeout=10)
        for index in range(3):
            status, _ = http_json(f"{server.url}/api/mutation",
                                  {"path": "notes:add", "args": {"body": f"m{index}"}})
            assert status == 200
        http_json(f"{server.url}/api/mutation", {"path": "notes:fail", "args": {"why": "x"}})
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            after = scrape(open_url)
            if after.get("reactor_push_latency_seconds_count", 0) >= 1:
                break
            time.sleep(0.1)
        assert after["reactor_sync_sessions"] == 1
        # The push histogram is the server's own (no locks): counts add up like a library one.
        push_buckets = [value for sample, value in after.items()
                        if sample.startswith("reactor_push_latency_seconds_bucket")]
        assert len(push_buckets) == 15 and push_buckets == sorted(push_buckets)
        assert after['reactor_push_latency_seconds_bucket{le="+Inf"}'] == \
            after["reactor_push_latency_seconds_count"] >= 1
        assert after["reactor_push_latency_seconds_sum"] > 0
        assert after["reactor_subscriptions"] >= 1
    assert after["reactor_commits_total"] - before["reactor_commits_total"] >= 3
    assert after["reactor_commit_latency_seconds_count"] - \
        before["reactor_commit_latency_seconds_count"] >= 3
    mutations = 'reactor_function_calls_total{kind="mutation",status="success"}'
    assert after[mutations] - before.get(mutations, 0) == 3
    assert after['reactor_function_calls_total{kind="mutation",status="failed"}'] >= 1
    assert after['reactor_function_duration_seconds_count{kind="mutation"}'] >= 4
    assert after["reactor_query_executions_total"] > before["reactor_query_executions_total"]
    assert after['reactor_storage_bytes{store="data"}'] > 0
    assert after['reactor_storage_bytes{store="logs"}'] > 0
    for gauge in ("reactor_scheduler_pending_jobs", "reactor_actions_running",
                  "reactor_actions_waiting"):
        assert after[gauge] == 0


def test_the_metrics_port_serves_nothing_else(server: ReactorServer) -> None:
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(
            f"http://127.0.0.1:{server.metrics_port}/api/admin/logs",  # type: ignore[attr-defined]
            timeout=10)
    assert refused.value.code == 404


async def test_each_server_has_its_own_registry(tmp_path: Path) -> None:
    first = InProcessServer(Engine(APP, tmp_path / "one", workers=0))
    second = InProcessServer(Engine(APP, tmp_path / "two", workers=0))
    await first.start()
    await second.start()
    try:
        await first.engine.run_mutation("notes:add", {"body": "only here"})
        calls = 'reactor_function_calls_total'
        one = first.metrics.registry.get_sample_value(calls, {"kind": "mutation",
                                                              "status": "success"})
        two = second.metrics.registry.get_sample_value(calls, {"kind": "mutation",
                                                               "status": "success"})
        assert (one, two) == (1.0, None)
        assert first.metrics.registry.get_sample_value("reactor_commits_total") == 1.0
        assert second.metrics.registry.get_sample_value("reactor_commits_total") == 0.0
    finally:
        await first.stop()
        await second.stop()
