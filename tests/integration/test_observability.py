"""Tracing into a real OTLP/HTTP receiver standing in for Langfuse, /metrics, request logs."""

from __future__ import annotations

import base64
import gzip
import json
import logging
import uuid
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import httpx
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from rag_service.api.app import create_app
from rag_service.core.config import Settings
from rag_service.core.logging import JsonFormatter
from rag_service.services import build_pipeline
from rag_service.tracing import LangfuseTracer, Tracer, build_tracer
from tests.conftest import LiveServer
from tests.fakes import (
    FakeServer,
    Reply,
    openai_error,
    passages_sent,
    render,
    scripted,
)

QUESTION = "What is the median day rate for a freelance AI Engineer in the UK?"
GOOD = 'The median day rate is £600/day [1].\nQUOTES:\n[1] "with a median of £600/day"'


def _receiver_reply(path: str, body: Any) -> Reply:
    if path.endswith("/otel/v1/traces"):
        return Reply(body=b"")
    return Reply(status=207, body={"successes": [], "errors": []})


@pytest.fixture()
def receiver() -> Iterator[FakeServer]:
    with FakeServer([_receiver_reply]) as server:
        yield server


def spans(receiver: FakeServer) -> list[dict[str, Any]]:
    out = []
    for r in receiver.requests:
        if not r.path.endswith("/otel/v1/traces"):
            continue
        raw = r.body if isinstance(r.body, bytes) else json.dumps(r.body).encode()
        if r.headers.get("content-encoding") == "gzip":
            raw = gzip.decompress(raw)
        for rs in ExportTraceServiceRequest.FromString(raw).resource_spans:
            for ss in rs.scope_spans:
                for s in ss.spans:
                    attrs = {}
                    for a in s.attributes:
                        v = a.value
                        attrs[a.key] = (
                            [x.string_value for x in v.array_value.values]
                            if v.HasField("array_value")
                            else v.string_value or v.bool_value or v.int_value
                        )
                    out.append(
                        {
                            "name": s.name,
                            "trace": s.trace_id.hex(),
                            "id": s.span_id.hex(),
                            "parent": s.parent_span_id.hex(),
                            "attrs": attrs,
                        }
                    )
    return out


def traced(settings: Settings, receiver: FakeServer | str, monkeypatch, **extra) -> Settings:
    """Settings with Langfuse keyed (a fresh public key: the SDK shares a client per key)."""
    monkeypatch.setenv("LANGFUSE_TRACING_ENABLED", "true")
    url = receiver if isinstance(receiver, str) else receiver.url
    return settings.model_copy(
        update={
            "langfuse_public_key": f"pk-lf-{uuid.uuid4().hex[:12]}",
            "langfuse_secret_key": __import__("pydantic").SecretStr("sk-lf-test"),
            "langfuse_base_url": url,
            "langfuse_tracing_enabled": True,
            **extra,
        }
    )


def traced_openai(
    settings: Settings, services: Any, receiver: FakeServer, monkeypatch, upstream: FakeServer
) -> tuple[Settings, LangfuseTracer, Any]:
    """Settings, Langfuse tracer and services whose pipeline asks the OpenAI stand-in at
    `upstream` and traces to `receiver`."""
    from pydantic import SecretStr

    s = traced(
        settings,
        receiver,
        monkeypatch,
        openai_base_url=upstream.url + "/v1",
        openai_api_key=SecretStr("sk-x"),
        openai_model="gpt-test",
    )
    tracer = build_tracer(s)
    assert isinstance(tracer, LangfuseTracer)
    mine = replace(
        services, pipeline=build_pipeline(s, services.db, services.embedder, tracer=tracer)
    )
    return s, tracer, mine


def test_an_ask_request_produces_the_trace_tree(settings, services, receiver, monkeypatch) -> None:
    reply = GOOD.replace("[1]", "[{n}]").replace(".\n", ". It is £640/day in Leeds [{n}].\n", 1)
    answer = scripted(lambda body: render(reply, passages_sent(body), "with a median of £600"))
    with FakeServer([answer]) as upstream:
        s, tracer, mine = traced_openai(settings, services, receiver, monkeypatch, upstream)
        with LiveServer(create_app(s, mine)) as live:
            r = httpx.post(
                live.url + "/v1/ask", json={"question": QUESTION, "provider": "openai"}, timeout=60
            )
        tracer.flush()
    body = r.json()
    assert body["answerable"] is True
    trace_id = body["trace_id"]
    assert trace_id and r.headers["x-trace-id"] == trace_id
    got = [sp for sp in spans(receiver) if sp["trace"] == trace_id]
    by_name = {sp["name"]: sp for sp in got}
    assert set(by_name) == {"ask", "retrieve", "rerank", "generate", "verify", "abstention"}
    root = by_name["ask"]
    # the root of what we export (FastAPI's own endpoint span above it is not exported)
    assert root["parent"] not in {sp["id"] for sp in got}
    assert root["attrs"]["langfuse.internal.is_app_root"] is True
    for child in ("retrieve", "rerank", "generate", "verify", "abstention"):
        assert by_name[child]["parent"] == root["id"], child
    gen = by_name["generate"]["attrs"]
    assert gen["langfuse.observation.type"] == "generation"
    assert gen["langfuse.observation.model.name"] == "gpt-test"
    assert json.loads(gen["langfuse.observation.usage_details"]) == {"input": 120, "output": 30}
    assert json.loads(gen["langfuse.observation.metadata.provider"]) == "openai"
    assert "600/day" in gen["langfuse.observation.input"]  # what the model was sent
    assert json.loads(gen["langfuse.observation.metadata.prompt_version"]).startswith("2+")
    verify = by_name["verify"]["attrs"]
    assert json.loads(verify["langfuse.observation.output"]) == {
        "claims": 2,
        "verified": 1,
        "dropped": 1,
        "mode": "text",
    }
    (dropped,) = json.loads(verify["langfuse.observation.metadata.dropped"])
    assert "640" in dropped["claim"] and "not in the cited span" in dropped["reason"]
    retrieved = json.loads(by_name["retrieve"]["attrs"]["langfuse.observation.output"])
    assert retrieved and {"chunk_id", "fused"} <= set(retrieved[0])
    decision = json.loads(by_name["abstention"]["attrs"]["langfuse.observation.output"])
    assert decision == {"answerable": True, "reason": "supported"}
    auth = next(x for x in receiver.requests if "otel" in x.path).headers["authorization"]
    assert (
        auth == "Basic " + base64.b64encode(f"{s.langfuse_public_key}:sk-lf-test".encode()).decode()
    )


def test_eval_traces_carry_the_run_and_scores(settings, services, receiver, monkeypatch) -> None:
    from evals.dataset import DEFAULT_DATASETS, load_dataset
    from evals.runner import evaluate

    s = traced(settings, receiver, monkeypatch)
    tracer = build_tracer(s)
    pipeline = build_pipeline(s, services.db, services.embedder, tracer=tracer)
    rows = load_dataset(DEFAULT_DATASETS[0])[:2]
    results = evaluate(pipeline, rows, tags={"run": "nightly-42"})
    tracer.flush()
    roots = [sp for sp in spans(receiver) if sp["name"] == "eval"]
    assert {sp["trace"] for sp in roots} == {r.trace_id for r in results}
    assert all("run:nightly-42" in sp["attrs"]["langfuse.trace.tags"] for sp in roots)
    scores = [
        item
        for x in receiver.requests
        if x.path.endswith("/scores")
        for item in (x.body if isinstance(x.body, list) else [x.body])
    ]
    correct = {sc["traceId"]: sc["value"] for sc in scores if sc["name"] == "correct"}
    assert correct == {r.trace_id: float(r.ok) for r in results}


def test_tracing_is_fully_off_without_keys(settings, services, receiver, monkeypatch) -> None:
    monkeypatch.setenv("LANGFUSE_TRACING_ENABLED", "true")
    s = settings.model_copy(update={"langfuse_base_url": receiver.url})
    assert type(build_tracer(s)) is Tracer
    off = traced(settings, receiver, monkeypatch, langfuse_tracing_enabled=False)
    assert type(build_tracer(off)) is Tracer
    pipeline = build_pipeline(s, services.db, services.embedder, tracer=build_tracer(s))
    with pipeline.tracer.request("ask", QUESTION) as trace:
        result = pipeline.ask(QUESTION)
    assert result.answerable and trace.trace_id is None
    pipeline.tracer.shutdown()
    assert receiver.requests == []


def test_an_unreachable_langfuse_never_fails_a_request(settings, services, monkeypatch) -> None:
    with FakeServer([Reply()]) as gone:
        dead_url = gone.url  # the port closes when the server stops
    s = traced(settings, dead_url, monkeypatch, langfuse_timeout_s=1)
    tracer = build_tracer(s)
    mine = replace(
        services, pipeline=build_pipeline(s, services.db, services.embedder, tracer=tracer)
    )
    with LiveServer(create_app(s, mine)) as live:
        for _ in range(3):
            r = httpx.post(live.url + "/v1/ask", json={"question": QUESTION}, timeout=30)
            assert r.status_code == 200 and r.json()["answerable"] is True
            assert r.json()["trace_id"]
    tracer.shutdown()


def test_metrics_count_requests_latency_abstentions_and_upstream_errors(settings, services) -> None:
    from pydantic import SecretStr

    with FakeServer([openai_error(500)]) as upstream:
        s = settings.model_copy(
            update={
                "openai_base_url": upstream.url + "/v1",
                "openai_api_key": SecretStr("k"),
                "llm_max_retries": 0,
            }
        )
        mine = replace(services, pipeline=build_pipeline(s, services.db, services.embedder))
        with LiveServer(create_app(s, mine)) as live, httpx.Client(base_url=live.url) as c:
            c.post("/v1/ask", json={"question": QUESTION})
            c.post("/v1/ask", json={"question": QUESTION})
            c.post("/v1/ask", json={"question": "What is the capital of France?"})
            c.post("/v1/ask", json={"question": ""})
            c.post("/v1/ask", json={"question": QUESTION, "provider": "openai"})
            text = c.get("/metrics").text
    assert 'rag_http_requests_total{method="POST",route="/v1/ask",status="200"} 3.0' in text
    assert 'rag_http_requests_total{method="POST",route="/v1/ask",status="422"} 1.0' in text
    assert 'rag_http_requests_total{method="POST",route="/v1/ask",status="502"} 1.0' in text
    assert (
        'rag_http_request_duration_seconds_bucket{le="0.5",method="POST",route="/v1/ask",status="200"}'
        in text
    )
    assert 'rag_abstentions_total{reason="unknown_entity"} 1.0' in text
    assert 'rag_upstream_errors_total{code="upstream_error",provider="openai"} 1.0' in text


def test_request_logs_are_structured_and_hold_no_bodies(http, caplog) -> None:
    marker = "zebra-quokka"
    with caplog.at_level(logging.INFO, logger="rag_service.api"):
        http.post(
            "/v1/ask",
            json={"question": f"What is the median day rate? {marker}"},
            headers={"x-request-id": "req-123"},
        )
    records = [r for r in caplog.records if getattr(r, "request_id", None) == "req-123"]
    assert records
    line = json.loads(JsonFormatter().format(records[0]))
    assert line["request_id"] == "req-123" and line["status"] == 200
    assert line["path"] == "/v1/ask" and line["provider"] == "extractive"
    assert isinstance(line["abstained"], bool) and line["latency_ms"] > 0
    assert marker not in json.dumps(line) and "£" not in json.dumps(line)
