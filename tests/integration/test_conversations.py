"""Conversations over HTTP: follow-ups rewritten and answered, turns stored, owned by the key
that made them, retention; the document text that citations index; the dialogue set."""

from __future__ import annotations

import json
import uuid

import httpx
import pytest
from pydantic import SecretStr

from rag_service.api.app import create_app
from rag_service.conversations import Conversation, ConversationStore
from rag_service.core.errors import NotFound
from tests.conftest import LiveServer

FIRST = {"question": "What is the median day rate for an AI Engineer?"}


def test_a_follow_up_is_rewritten_answered_and_stored(http: httpx.Client) -> None:
    first = http.post("/v1/ask", json=FIRST).json()
    cid = first["conversation_id"]
    assert uuid.UUID(cid) and first["rewrite"] == "standalone"
    assert first["standalone_question"] == FIRST["question"]

    follow = http.post("/v1/ask", json={"question": "And in London?", "conversation_id": cid})
    body = follow.json()
    assert follow.status_code == 200 and body["conversation_id"] == cid
    assert body["rewrite"] == "followup"
    assert "London" in body["standalone_question"] and "day rate" in body["standalone_question"]
    assert body["answerable"] and "725" in body["answer"]

    switch = http.post(
        "/v1/ask", json={"question": "What is the capital of France?", "conversation_id": cid}
    ).json()
    assert switch["standalone_question"] == "What is the capital of France?"
    assert switch["answerable"] is False  # a topic switch inherits nothing

    convo = http.get(f"/v1/conversations/{cid}").json()
    assert [t["question"] for t in convo["turns"]] == [
        FIRST["question"],
        "And in London?",
        "What is the capital of France?",
    ]
    assert convo["turns"][1]["standalone_question"] == body["standalone_question"]
    assert convo["turns"][1]["citations"] == body["citations"]
    assert http.delete(f"/v1/conversations/{cid}").status_code == 204
    assert http.get(f"/v1/conversations/{cid}").status_code == 404
    gone = http.post("/v1/ask", json={"question": "And in London?", "conversation_id": cid})
    assert gone.status_code == 404 and gone.json()["error"]["code"] == "not_found"


def test_the_stream_carries_the_conversation(http: httpx.Client) -> None:
    cid = http.post("/v1/ask", json=FIRST).json()["conversation_id"]
    payload = {"question": "what about AI Software Engineers?", "conversation_id": cid}
    with http.stream("POST", "/v1/ask/stream", json=payload) as r:
        assert r.status_code == 200
        done = None
        event = ""
        for line in r.iter_lines():
            if line.startswith("event:"):
                event = line[6:].strip()
            elif line.startswith("data:") and event == "done":
                done = json.loads(line[5:])
    assert done is not None and done["conversation_id"] == cid
    assert "AI Software Engineer" in done["standalone_question"]
    assert done["answerable"] and "650" in done["answer"]
    assert len(http.get(f"/v1/conversations/{cid}").json()["turns"]) == 2


def test_bad_and_unknown_conversation_ids(http: httpx.Client) -> None:
    unknown = http.post("/v1/ask", json={**FIRST, "conversation_id": str(uuid.uuid4())})
    assert unknown.status_code == 404
    bad = http.post("/v1/ask", json={**FIRST, "conversation_id": "not-a-uuid"})
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "invalid_input"
    assert http.get("/v1/conversations/not-a-uuid").status_code == 422
    assert http.delete(f"/v1/conversations/{uuid.uuid4()}").status_code == 404


def test_conversations_belong_to_their_key(settings, services) -> None:
    s = settings.model_copy(update={"api_keys": SecretStr("alpha-key,beta-key")})
    alpha = {"authorization": "Bearer alpha-key"}
    beta = {"x-api-key": "beta-key"}
    with LiveServer(create_app(s, services)) as live, httpx.Client(base_url=live.url) as c:
        cid = c.post("/v1/ask", json=FIRST, headers=alpha).json()["conversation_id"]
        assert c.get(f"/v1/conversations/{cid}", headers=alpha).status_code == 200
        assert c.get(f"/v1/conversations/{cid}", headers=beta).status_code == 404
        assert c.get(f"/v1/conversations/{cid}").status_code == 401
        follow = {"question": "And in London?", "conversation_id": cid}
        assert c.post("/v1/ask", json=follow, headers=beta).status_code == 404
        assert c.delete(f"/v1/conversations/{cid}", headers=beta).status_code == 404
        assert c.delete(f"/v1/conversations/{cid}", headers=alpha).status_code == 204


def test_expired_conversations_are_not_found_and_purged(services) -> None:
    store = ConversationStore(services.db, retention_days=1)
    convo = Conversation(str(uuid.uuid4()))
    body = {"answer": "a", "answerable": True, "reason": "supported", "citations": []}
    store.add_turn(convo, "", "q?", body)
    assert store.open(convo.id, "").previous == ["q?"]
    with services.db.connection() as conn:
        conn.execute(
            "UPDATE conversations SET updated_at = now() - interval '2 days' WHERE id = %s",
            (convo.id,),
        )
        conn.commit()
    with pytest.raises(NotFound):  # the expired conversation is invisible at once ...
        store.open(convo.id, "")
    store.add_turn(Conversation(str(uuid.uuid4())), "", "q?", body)  # ... and purged next
    with services.db.connection() as conn:
        left = conn.execute("SELECT count(*) FROM conversations WHERE id = %s", (convo.id,))
        assert left.fetchone()[0] == 0


def test_document_text_holds_every_cited_span(http: httpx.Client) -> None:
    body = http.post("/v1/ask", json=FIRST).json()
    c = body["citations"][0]
    doc = http.get(f"/v1/documents/{c['document']}/text").json()
    assert doc["source"] == c["document"]
    assert doc["text"][c["start"] : c["end"]] == c["quote"]
    by_id = http.get(f"/v1/documents/{doc['id']}/text").json()
    assert by_id["text"] == doc["text"]
    assert http.get("/v1/documents/no-such-doc.txt/text").status_code == 404


def test_dialogue_set_turn_by_turn(services) -> None:
    """The dialogue set's gate: turn-level answer and abstention accuracy in conversation
    within 3 points of the same turns asked stand-alone (measured: answer 0.909 vs 0.927,
    abstention 1.000 vs 1.000 over 61 turns), and no turn worse than the committed baseline
    (what `rag-eval run --gate` checks)."""
    from evals.dialogues import (
        dialogue_metrics,
        evaluate_dialogues,
        load_dialogues,
        summarize_turns,
    )
    from evals.gate import compare_dialogues, load_baseline

    dialogues = load_dialogues()
    assert len(dialogues) >= 25 and all(2 <= len(d["turns"]) <= 4 for d in dialogues)
    turns = evaluate_dialogues(services.pipeline, dialogues)
    verdict = compare_dialogues(load_baseline(), dialogue_metrics(turns), turns)
    assert verdict.passed, verdict.lines()
    summary = summarize_turns(turns)
    answer = summary["answer (answerable turns)"]
    abstain = summary["abstention (unanswerable turns)"]
    assert answer["alone"] - answer["conversation"] <= 0.03, summary
    assert abstain["alone"] - abstain["conversation"] <= 0.03, summary
    assert answer["conversation"] >= 0.8 and abstain["conversation"] == 1.0, summary
    assert summary["kind: switch"]["conversation"] == 1.0
