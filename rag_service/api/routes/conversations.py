"""GET/DELETE /v1/conversations/{id}, the turn bookkeeping of /v1/ask, and
GET /v1/documents/{key}/text (the stored text that citations' offsets point into)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Request, status
from pydantic import BaseModel, Field

from rag_service.api.deps import ServicesDep
from rag_service.api.schemas import Citation
from rag_service.conversations import Conversation, ConversationStore, owner_of
from rag_service.core.errors import NotFound, RagError
from rag_service.core.inputs import check_document_key
from rag_service.services import Services

router = APIRouter(tags=["conversations"])
log = logging.getLogger(__name__)

ConversationId = Annotated[str, Path(description="The `conversation_id` an answer returned.")]


@dataclass
class Turn:
    """One ask in a conversation: where it is stored, by whom, and what came before it."""

    store: ConversationStore
    owner: str
    conversation: Conversation


def _store(request: Request, services: Services) -> tuple[ConversationStore, str]:
    settings = request.app.state.settings
    store = ConversationStore(
        services.db,
        retention_days=settings.conversation_retention_days,
        max_turns=settings.conversation_max_turns,
    )
    return store, owner_of(request.headers, bool(settings.key_set))


def begin_turn(request: Request, services: Services, conversation_id: str | None) -> Turn:
    """The conversation an ask belongs to: a new one, or the caller's own (404 otherwise)."""
    store, owner = _store(request, services)
    return Turn(store, owner, store.open(conversation_id, owner))


def record_turn(turn: Turn, question: str, body: dict[str, Any]) -> None:
    """Store the answered turn. The answer is already made: a failure to store it is logged,
    and the caller still gets the answer (its follow-up will then find fewer turns)."""
    try:
        turn.store.add_turn(turn.conversation, turn.owner, question, body)
    except RagError as exc:
        log.warning("conversation turn not stored: %s", exc.code)


class TurnOut(BaseModel):
    n: int
    question: str
    standalone_question: str
    rewrite: str
    answer: str
    answerable: bool
    reason: str
    citations: list[Citation]
    created_at: datetime


class ConversationOut(BaseModel):
    id: str
    created_at: datetime
    updated_at: datetime
    turns: list[TurnOut]


class DocumentText(BaseModel):
    id: int
    source: str
    title: str
    text: str = Field(description="The stored text; citations' start/end index into it.")


@router.get("/v1/conversations/{conversation_id}", response_model=ConversationOut)
def get_conversation(
    conversation_id: ConversationId, services: ServicesDep, request: Request
) -> dict[str, Any]:
    """A conversation of the caller's API key, turn by turn (404 for anyone else's)."""
    store, owner = _store(request, services)
    return store.get(conversation_id, owner)


@router.delete("/v1/conversations/{conversation_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_conversation(
    conversation_id: ConversationId, services: ServicesDep, request: Request
) -> None:
    store, owner = _store(request, services)
    store.delete(conversation_id, owner)


@router.get("/v1/documents/{key:path}/text", response_model=DocumentText, tags=["documents"])
def document_text(key: str, services: ServicesDep) -> DocumentText:
    """The document's stored text, exactly as citations index it: for a citation,
    `text[start:end] == quote`, so a viewer can highlight the span."""
    check_document_key(key)
    with services.db.connection() as conn:
        if key.isascii() and key.isdigit() and len(key) <= 18:
            row = conn.execute(
                "SELECT id, source, title, content FROM documents WHERE id = %s", (int(key),)
            ).fetchone()
        else:
            row = conn.execute(
                "SELECT id, source, title, content FROM documents WHERE source = %s", (key,)
            ).fetchone()
    if row is None:
        raise NotFound("no such document")
    return DocumentText(id=row[0], source=row[1], title=row[2], text=row[3])
