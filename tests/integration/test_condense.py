"""The condense step: with an LLM provider, a follow-up is rewritten into a stand-alone
question by the same provider, over each wire format, through the service's HTTP API against
real loopback servers; the rewrite is kept only if it keeps the follow-up's own terms, and an
upstream failure or timeout falls back to the offline rewrite."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from rag_service.analysis import question_shape
from rag_service.analysis.followup import rewrite_followup
from rag_service.api.app import create_app
from rag_service.generation.llm import CONDENSE_MAX_TOKENS, condense_prompt
from tests.conftest import LiveServer
from tests.fakes import FakeServer, Reply, passages_sent, question_sent, render, scripted
from tests.integration.test_observability import receiver, spans, traced_openai  # noqa: F401
from tests.integration.test_providers import PROVIDERS, serve

FIRST = "What is the median day rate for an AI Engineer?"
FOLLOW = "And in London?"
# what a model makes of FOLLOW: worded unlike the offline rewrite, so the test tells them apart
CONDENSED = "What is the median day rate for an AI Engineer based in London?"
LONDON = "London-based contractors can expect around £725/day"
MEDIAN = "with a median of £600/day"


def offline(question: str, previous: list[str]) -> str:
    """What the offline rules make of a follow-up (the fallback)."""
    return rewrite_followup(question, [question_shape(q) for q in previous]).standalone


def is_condense(body: Any) -> bool:
    content = body["messages"][-1]["content"]
    return isinstance(content, str) and content.startswith("Earlier questions:")


def answers(text: str) -> str:
    """A cited answer quoting `text` from the passage that holds it."""
    return f'{text} [{{n}}].\nQUOTES:\n[{{n}}] "{text}"'


def model(condense: Callable[[Any], Reply | str]) -> Any:
    """A model on both wire formats: condense requests answered by `condense(body)` (a reply,
    or the condensed text), questions answered from the passage holding the asked figure."""

    def answer(body: Any) -> str:
        needle = LONDON if "London" in question_sent(body) else MEDIAN
        return render(answers(needle), passages_sent(body), needle)

    ask = scripted(answer)

    def reply(path: str, body: Any) -> Reply:
        if not is_condense(body):
            return ask(path, body)
        out = condense(body)
        if isinstance(out, Reply):
            return out
        return scripted(lambda _: out)(path, body)

    return reply


def condense_requests(upstream: FakeServer) -> list[Any]:
    return [r for r in upstream.requests if is_condense(r.body)]


def asked_questions(upstream: FakeServer) -> list[str]:
    return [question_sent(r.body) for r in upstream.requests if not is_condense(r.body)]


def converse(url: str, provider: str, *questions: str) -> list[dict[str, Any]]:
    """Ask `questions` in one conversation; the /v1/ask bodies."""
    out: list[dict[str, Any]] = []
    cid = None
    for q in questions:
        r = httpx.post(
            url + "/v1/ask",
            json={"question": q, "provider": provider, "conversation_id": cid},
            timeout=60,
        )
        assert r.status_code == 200, r.text
        out.append(r.json())
        cid = out[-1]["conversation_id"]
    return out


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_follow_up_is_condensed_by_the_same_provider(provider, settings, services) -> None:
    with (
        FakeServer([model(lambda _: f'"{CONDENSED}"')]) as upstream,
        serve(settings, services, upstream) as live,
    ):
        first, follow = converse(live.url, provider, FIRST, FOLLOW)
    assert first["standalone_question"] == FIRST and first["rewrite"] == "standalone"
    assert follow["standalone_question"] == CONDENSED and follow["rewrite"] == "followup"
    assert follow["answerable"] and "725" in follow["answer"], follow
    assert asked_questions(upstream) == [FIRST, CONDENSED]  # retrieval and the model read it
    (sent,) = condense_requests(upstream)  # the first question needed none
    assert sent.body["model"] == ("gpt-test" if provider == "openai" else "claude-test")
    assert sent.body["max_tokens"] == CONDENSE_MAX_TOKENS
    if provider == "openai":
        assert sent.path == "/v1/chat/completions"
        system, user = sent.body["messages"]
        system, user = system["content"], user["content"]
    else:
        assert sent.path == "/v1/messages"
        system, user = sent.body["system"], sent.body["messages"][0]["content"]
    assert system == condense_prompt().text
    assert user == f"Earlier questions:\n1. {FIRST}\n\nLast question: {FOLLOW}"


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_condensed_question_that_drops_the_follow_ups_terms_is_not_used(
    provider, settings, services
) -> None:
    """The model loses "London": the offline rewrite is searched instead."""
    dropped = "What is the median day rate for an AI Engineer in the UK?"
    with (
        FakeServer([model(lambda _: dropped)]) as upstream,
        serve(settings, services, upstream) as live,
    ):
        _, follow = converse(live.url, provider, FIRST, FOLLOW)
    expected = offline(FOLLOW, [FIRST])
    assert "London" in expected and expected != dropped
    assert follow["standalone_question"] == expected
    assert len(condense_requests(upstream)) == 1
    assert asked_questions(upstream) == [FIRST, expected]
    assert follow["answerable"] and "725" in follow["answer"], follow


@pytest.mark.parametrize("provider", PROVIDERS)
@pytest.mark.parametrize("failure", ["error", "timeout"])
def test_an_upstream_failure_falls_back_to_the_offline_rewrite(
    provider, failure, settings, services
) -> None:
    """A 500 or a reply slower than the timeout: the offline rewrite, at once (no retries),
    and the answer still comes from the same provider."""
    _, _, error = PROVIDERS[provider]
    bad = error(500) if failure == "error" else Reply(delay_s=3.0, body={})
    with (
        FakeServer([model(lambda _: bad)]) as upstream,
        serve(settings, services, upstream, llm_timeout_s=1.0) as live,
    ):
        _, follow = converse(live.url, provider, FIRST, FOLLOW)
    assert follow["standalone_question"] == offline(FOLLOW, [FIRST])
    assert len(condense_requests(upstream)) == 1  # llm_max_retries=2 does not apply
    assert follow["answerable"] and "725" in follow["answer"] and follow["provider"] == provider


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_question_that_stands_alone_is_left_as_it_is(provider, settings, services) -> None:
    """A topic switch: the model returns it unchanged, and it is searched as asked."""
    switch = "What is the capital of France?"
    with (
        FakeServer([model(lambda body: switch)]) as upstream,
        serve(settings, services, upstream) as live,
    ):
        _, after = converse(live.url, provider, FIRST, switch)
    assert after["standalone_question"] == switch and after["rewrite"] == "standalone"
    assert len(condense_requests(upstream)) == 1
    assert set(asked_questions(upstream)) <= {FIRST, switch}  # never a rewritten question


@pytest.mark.parametrize("provider", PROVIDERS)
def test_the_stream_condenses_under_its_reserved_slot(provider, settings, services) -> None:
    """The streaming route reserves one upstream slot; with a limit of one call in flight the
    condense step runs under it instead of being refused."""
    with (
        FakeServer([model(lambda _: CONDENSED)]) as upstream,
        serve(settings, services, upstream, llm_max_concurrency=1) as live,
    ):
        (first,) = converse(live.url, provider, FIRST)
        payload = {
            "question": FOLLOW,
            "provider": provider,
            "conversation_id": first["conversation_id"],
        }
        done, event = None, ""
        with httpx.stream("POST", live.url + "/v1/ask/stream", json=payload, timeout=60) as r:
            assert r.status_code == 200
            for line in r.iter_lines():
                if line.startswith("event:"):
                    event = line[6:].strip()
                elif line.startswith("data:") and event == "done":
                    done = json.loads(line[5:])
    assert done is not None and done["standalone_question"] == CONDENSED
    assert done["answerable"] and "725" in done["answer"], done
    assert asked_questions(upstream) == [FIRST, CONDENSED]


def test_the_condense_step_is_traced(settings, services, receiver, monkeypatch) -> None:  # noqa: F811
    with FakeServer([model(lambda _: CONDENSED)]) as upstream:
        s, tracer, mine = traced_openai(settings, services, receiver, monkeypatch, upstream)
        with LiveServer(create_app(s, mine)) as live:
            _, follow = converse(live.url, "openai", FIRST, FOLLOW)
        tracer.flush()
    got = [sp for sp in spans(receiver) if sp["trace"] == follow["trace_id"]]
    by_name = {sp["name"]: sp for sp in got}
    assert {"ask", "condense", "retrieve", "generate"} <= set(by_name)
    condense = by_name["condense"]
    assert condense["parent"] == by_name["ask"]["id"]
    attrs = condense["attrs"]
    assert attrs["langfuse.observation.output"] == CONDENSED
    assert json.loads(attrs["langfuse.observation.metadata.accepted"]) is True
    assert json.loads(attrs["langfuse.observation.metadata.model"]) == "gpt-test"
    assert json.loads(attrs["langfuse.observation.metadata.offline"]) == offline(FOLLOW, [FIRST])
    assert FOLLOW in attrs["langfuse.observation.input"]
