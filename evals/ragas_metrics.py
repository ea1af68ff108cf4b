"""RAGAS metrics computed through the `ragas` package itself.

Non-LLM metrics (always, deterministic): NonLLMContextRecall and
NonLLMContextPrecisionWithReference (retrieved passages vs the labelled evidence) and
NonLLMStringSimilarity (answer vs reference). LLM-judged metrics (Faithfulness,
AnswerRelevancy, ContextPrecision) when a judge endpoint (OpenAI-compatible) is configured;
their scores vary run to run, so the CI gate never uses them.
"""

from __future__ import annotations

import asyncio
import os
import warnings
from dataclasses import dataclass
from typing import Any

os.environ.setdefault("RAGAS_DO_NOT_TRACK", "true")


@dataclass(frozen=True)
class JudgeConfig:
    base_url: str
    model: str
    api_key: str = "unused"
    embedding_model: str = "text-embedding-3-small"


class RagasScorer:
    def __init__(self, judge: JudgeConfig | None = None) -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from ragas.metrics import NonLLMContextPrecisionWithReference, NonLLMContextRecall
            from ragas.metrics.collections import NonLLMStringSimilarity

            self._recall = NonLLMContextRecall()
            self._precision = NonLLMContextPrecisionWithReference()
            self._similarity = NonLLMStringSimilarity()
        self._judge: dict[str, Any] | None = None
        if judge is not None:
            self._judge = self._judge_metrics(judge)

    @staticmethod
    def _judge_metrics(judge: JudgeConfig) -> dict[str, Any]:
        from openai import AsyncOpenAI
        from ragas.embeddings import OpenAIEmbeddings
        from ragas.llms import llm_factory
        from ragas.metrics.collections import AnswerRelevancy, ContextPrecision, Faithfulness

        client = AsyncOpenAI(base_url=judge.base_url, api_key=judge.api_key, max_retries=1)
        llm = llm_factory(judge.model, client=client)
        embeddings = OpenAIEmbeddings(client=client, model=judge.embedding_model)
        return {
            "faithfulness": Faithfulness(llm=llm),
            "answer_relevancy": AnswerRelevancy(llm=llm, embeddings=embeddings, strictness=1),
            "context_precision": ContextPrecision(llm=llm),
        }

    @property
    def judged(self) -> bool:
        return self._judge is not None

    def score(
        self,
        *,
        question: str,
        answer: str,
        reference: str,
        contexts: list[str],
        evidence: list[str],
    ) -> dict[str, float]:
        return asyncio.run(self._ascore(question, answer, reference, contexts, evidence))

    async def _ascore(
        self, question: str, answer: str, reference: str, contexts: list[str], evidence: list[str]
    ) -> dict[str, float]:
        from ragas.dataset_schema import SingleTurnSample

        sample = SingleTurnSample(retrieved_contexts=contexts or [""], reference_contexts=evidence)
        out: dict[str, float] = {}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            out["nonllm_context_recall"] = float(await self._recall.single_turn_ascore(sample))
            out["nonllm_context_precision"] = float(
                await self._precision.single_turn_ascore(sample)
            )
        sim = await self._similarity.ascore(reference=reference, response=answer)
        out["nonllm_string_similarity"] = float(sim.value)
        if self._judge is not None and answer:
            j = self._judge
            faith = await j["faithfulness"].ascore(
                user_input=question, response=answer, retrieved_contexts=contexts
            )
            rel = await j["answer_relevancy"].ascore(user_input=question, response=answer)
            prec = await j["context_precision"].ascore(
                user_input=question, reference=reference, retrieved_contexts=contexts
            )
            out["faithfulness"] = float(faith.value)
            out["answer_relevancy"] = float(rel.value)
            out["context_precision"] = float(prec.value)
        return {k: round(v, 4) for k, v in out.items()}
