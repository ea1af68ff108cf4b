"""LLM-judged RAGAS metrics on the service's own answers, against a loopback judge that
judges by word overlap (tests/fakes.judge): verbatim extractive answers are faithful to the
passages they came from, so anything else means the wrong text reached the judge."""

from __future__ import annotations

from evals.dataset import DEFAULT_DATASETS, load_dataset
from evals.metrics import summarize
from evals.ragas_metrics import JudgeConfig, RagasScorer
from evals.runner import evaluate
from tests.fakes import FakeServer, judge


def test_llm_judged_metrics_run_through_ragas(services) -> None:
    rows = [r for r in load_dataset(DEFAULT_DATASETS[0]) if r.answerable][:2]
    with FakeServer([judge()]) as server:
        scorer = RagasScorer(JudgeConfig(server.url + "/v1", "judge-model"))
        results = evaluate(services.pipeline, rows, scorer=scorer)
        paths = {r.path for r in server.requests}
        models = {r.body.get("model") for r in server.requests}
    answered = [r for r in results if r.said_answerable]
    assert answered
    for r in answered:
        assert r.ragas["faithfulness"] == 1.0, (r.id, r.answer, r.ragas)
        assert r.ragas["context_precision"] > 0, (r.id, r.ragas)
        assert 0.0 < r.ragas["answer_relevancy"] <= 1.0, (r.id, r.ragas)
    summary = summarize(results)
    assert {"ragas_faithfulness", "ragas_answer_relevancy", "ragas_context_precision"} <= set(
        summary
    )
    assert paths == {"/v1/chat/completions", "/v1/embeddings"}
    assert "judge-model" in models
    # the judge was asked about our answer and our retrieved passages
    sent = " ".join(str(r.body.get("messages")) for r in server.requests if r.body.get("messages"))
    assert rows[0].question in sent
