"""The eval suite in LLM mode against the scripted stand-in (evals/llm_standin.py): a model that
answers every labelled question correctly, in varied citation styles, through each wire format
and mode, scores what the labels say; one that puts wrong figures into a third of its answers
ships none of them."""

from __future__ import annotations

import pytest

from evals.dataset import DEFAULT_DATASETS, load_dataset
from evals.llm_standin import StandinLLM, wrong_figures_shipped
from evals.metrics import summarize
from evals.runner import evaluate
from rag_service.services import build_pipeline

MODES = {
    "openai-text": ("openai", {"openai_output": "text"}),
    "openai-json": ("openai", {"openai_output": "json"}),
    "anthropic-native": ("anthropic", {"anthropic_output": "native"}),
    "anthropic-text": ("anthropic", {"anthropic_output": "text"}),
}


@pytest.fixture(scope="module")
def rows():
    return [r for p in DEFAULT_DATASETS for r in load_dataset(p)]


def run(settings, services, rows, variant: str, mode: str):
    provider, overrides = MODES[mode]
    with StandinLLM(rows, variant) as standin:
        s = standin.configure(settings, provider).model_copy(update=overrides)
        pipeline = build_pipeline(s, services.db, services.embedder)
        results = evaluate(pipeline, rows, provider=provider)
    return standin, results


@pytest.mark.parametrize("mode", MODES)
def test_a_correct_model_scores_the_labels(mode, settings, services, rows) -> None:
    _, results = run(settings, services, rows, "correct", mode)
    summary = summarize(results)
    misses = [(r.id, r.reason, r.answer) for r in results if not r.ok]
    assert summary["answer_accuracy"] == 1.0, misses
    assert summary["citation_accuracy"] == 1.0, misses
    assert summary["abstention_accuracy"] == 1.0, misses


@pytest.mark.parametrize("mode", ["openai-text", "anthropic-native"])
def test_wrong_figures_never_ship(mode, settings, services, rows) -> None:
    standin, results = run(settings, services, rows, "wrong-figures", mode)
    assert len(standin.injected) >= 15
    assert wrong_figures_shipped(standin, results) == []
    # the right claims beside the wrong ones still ship
    summary = summarize(results)
    assert summary["answer_accuracy"] >= 0.8
