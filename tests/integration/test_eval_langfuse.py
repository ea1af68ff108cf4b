"""Eval runs recorded as Langfuse dataset runs, against a loopback stand-in of Langfuse's HTTP
API: the datasets and items endpoints keep what they are sent and answer with it, the OTLP and
score endpoints record. The SDK is the real one; the questions are answered by the real
pipeline."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, unquote, urlparse

import pytest
from pydantic import SecretStr

from evals.dataset import DEFAULT_DATASETS, load_dataset
from evals.langfuse_runs import item_id, langfuse_configured, record_dataset_runs
from evals.metrics import summarize
from evals.runner import evaluate
from tests.fakes import Seen, _Server
from tests.integration.test_observability import spans

pytestmark = pytest.mark.integration


class LangfuseStandin:
    """Just enough of /api/public for datasets, dataset items, projects, traces and scores."""

    def __init__(self) -> None:
        self.requests: list[Seen] = []
        self.datasets: dict[str, dict[str, Any]] = {}
        self.items: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()
        standin = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                self._answer(None)

            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("content-length") or 0))
                self._answer(raw)

            def _answer(self, raw: bytes | None) -> None:
                headers = {k.lower(): v for k, v in self.headers.items()}
                body: Any = raw
                if raw and "json" in headers.get("content-type", ""):
                    body = json.loads(raw)
                with standin._lock:
                    standin.requests.append(Seen(self.path, headers, body))
                    status, reply = standin.route(self.command, self.path, body)
                data = json.dumps(reply).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self._httpd = _Server(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._httpd.server_address[1]}"
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    def route(self, method: str, path: str, body: Any) -> tuple[int, Any]:
        url = urlparse(path)
        now = datetime.now(UTC).isoformat()
        if url.path == "/api/public/projects":
            org = {"id": "org-1", "name": "org"}
            return 200, {
                "data": [{"id": "proj-1", "name": "p", "organization": org, "metadata": {}}]
            }
        if method == "POST" and url.path == "/api/public/v2/datasets":
            ds = self.datasets.setdefault(
                body["name"],
                {"id": f"ds-{uuid.uuid4().hex[:8]}", "projectId": "proj-1", "createdAt": now},
            )
            ds.update(name=body["name"], description=body.get("description"), metadata=None)
            ds["updatedAt"] = now
            return 200, ds
        if method == "GET" and url.path.startswith("/api/public/v2/datasets/"):
            name = unquote(url.path.removeprefix("/api/public/v2/datasets/"))
            return (200, self.datasets[name]) if name in self.datasets else (404, {})
        if method == "POST" and url.path == "/api/public/dataset-items":
            ds = self.datasets[body["datasetName"]]
            item = {
                "id": body["id"],
                "status": "ACTIVE",
                "input": body.get("input"),
                "expectedOutput": body.get("expectedOutput"),
                "metadata": body.get("metadata"),
                "datasetId": ds["id"],
                "datasetName": ds["name"],
                "createdAt": now,
                "updatedAt": now,
                "mediaReferences": [],
            }
            self.items[item["id"]] = item  # upsert by id, as Langfuse does
            return 200, item
        if method == "GET" and url.path == "/api/public/dataset-items":
            name = parse_qs(url.query)["datasetName"][0]
            data = [i for i in self.items.values() if i["datasetName"] == name]
            meta = {"page": 1, "limit": 50, "totalItems": len(data), "totalPages": 1}
            return 200, {"data": data, "meta": meta}
        if url.path.endswith("/otel/v1/traces"):
            return 200, {}
        if url.path == "/api/public/scores":
            return 200, {"id": "ok"}
        return 404, {"message": f"stand-in has no {method} {url.path}"}

    def scores(self) -> list[dict[str, Any]]:
        return [
            s
            for r in self.requests
            if r.path.startswith("/api/public/scores")
            for s in (r.body if isinstance(r.body, list) else [r.body])
        ]

    def __enter__(self) -> LangfuseStandin:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()


@pytest.fixture()
def langfuse() -> Iterator[LangfuseStandin]:
    with LangfuseStandin() as standin:
        yield standin


def test_an_eval_run_is_a_dataset_run_with_its_scores(
    services, settings, langfuse, monkeypatch
) -> None:
    monkeypatch.setenv("LANGFUSE_TRACING_ENABLED", "true")  # the SDK reads it too
    s = settings.model_copy(
        update={
            "langfuse_public_key": f"pk-lf-{uuid.uuid4().hex[:12]}",  # the SDK keeps one per key
            "langfuse_secret_key": SecretStr("sk-lf-test"),
            "langfuse_base_url": langfuse.url,
            "langfuse_tracing_enabled": True,
        }
    )
    assert langfuse_configured(s)
    assert not langfuse_configured(s.model_copy(update={"langfuse_tracing_enabled": False}))
    rows = load_dataset(DEFAULT_DATASETS[0])[:4]
    results = evaluate(services.pipeline, rows)
    summary = summarize(results)
    assert {r.ok for r in results} == {True, False}  # both kinds of score are exercised

    for run in ("nightly-1", "nightly-2"):
        run_ids = record_dataset_runs(s, run, {"dev": (rows, results, summary)})
        assert set(run_ids) == {"dev"}
    assert run_ids["dev"]

    # one dataset, one item per question (the second run upserted the same items)
    assert list(langfuse.datasets) == ["rag-eval/dev"]
    assert sorted(langfuse.items) == sorted(item_id("rag-eval/dev", r.id) for r in rows)
    item = langfuse.items[item_id("rag-eval/dev", rows[0].id)]
    assert item["input"] == {"question": rows[0].question}
    assert item["expectedOutput"]["sources"] == rows[0].sources

    # each run: a trace per item linked to the dataset item and the run
    runs = [sp for sp in spans(langfuse) if sp["name"] == "experiment-item-run"]
    assert len(runs) == 2 * len(rows)
    last = [sp for sp in runs if sp["attrs"].get("langfuse.experiment.id") == run_ids["dev"]]
    assert sorted(sp["attrs"]["langfuse.experiment.item.id"] for sp in last) == sorted(
        langfuse.items
    )
    assert {sp["attrs"]["langfuse.experiment.dataset.id"] for sp in last} == {
        langfuse.datasets["rag-eval/dev"]["id"]
    }
    assert {sp["attrs"]["langfuse.experiment.name"] for sp in last} == {"nightly-2"}

    # question scores on each item's trace, the run's metrics on the run
    by_trace = {sp["trace"]: sp["attrs"]["langfuse.experiment.item.id"] for sp in last}
    correct = {
        by_trace[sc["traceId"]]: sc["value"]
        for sc in langfuse.scores()
        if sc["name"] == "correct" and sc.get("traceId") in by_trace
    }
    assert correct == {item_id("rag-eval/dev", r.id): float(r.ok) for r in results}
    run_scores = {
        sc["name"]: sc["value"]
        for sc in langfuse.scores()
        if sc.get("datasetRunId") == run_ids["dev"]
    }
    assert run_scores == pytest.approx({k: float(v) for k, v in summary.items()})
    auth = next(r for r in langfuse.requests if r.path == "/api/public/dataset-items")
    assert auth.headers["authorization"].startswith("Basic ")
