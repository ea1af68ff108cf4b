"""Conversations: the turns of a dialogue, kept in Postgres, so a follow-up can lean on them.

A conversation belongs to the API key that made it (`owner`: the SHA-256 of the key, '' when
keys are off); any other key is told it does not exist. Conversations idle for longer than
RAG_CONVERSATION_RETENTION_DAYS are deleted (lazily, when a new one starts) and are not found
meanwhile. The ask path reads a `Conversation` (its id and the earlier turns' stand-alone
questions); the store writes each turn once it is answered.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from rag_service.core.database import Database
from rag_service.core.errors import InvalidInput, NotFound

log = logging.getLogger(__name__)
_UUID = re.compile(r"[0-9a-fA-F]{8}-?(?:[0-9a-fA-F]{4}-?){3}[0-9a-fA-F]{12}")


@dataclass
class Conversation:
    """What the ask path needs of a conversation: its id and the earlier turns' stand-alone
    questions, oldest first (empty for a new conversation)."""

    id: str
    previous: list[str] = field(default_factory=list)
    new: bool = True


def conversation_id(value: str) -> str:
    """The canonical form of a conversation id (a UUID), or InvalidInput."""
    if not _UUID.fullmatch(value.strip()):
        raise InvalidInput("conversation_id must be a UUID returned by this service")
    return str(uuid.UUID(value.strip()))


def owner_of(headers: Mapping[str, str], keys_on: bool) -> str:
    """Who owns what this request makes: the SHA-256 of its API key, or '' with keys off."""
    if not keys_on:
        return ""
    auth = headers.get("authorization", "")
    key = auth[7:].strip() if auth[:7].lower() == "bearer " else headers.get("x-api-key", "")
    return hashlib.sha256(key.encode("latin-1", "replace")).hexdigest()


class ConversationStore:
    def __init__(self, db: Database, *, retention_days: float = 30.0, max_turns: int = 20):
        self.db = db
        self.retention_days = retention_days
        self.max_turns = max_turns

    def _live(self) -> str:
        """SQL condition: the conversation has not expired."""
        if not self.retention_days:
            return "true"
        return f"c.updated_at > now() - interval '{float(self.retention_days) * 86400:.0f} seconds'"

    def open(self, conv_id: str | None, owner: str) -> Conversation:
        """A new conversation (nothing is stored until its first turn), or an existing one of
        this owner with its earlier turns; NotFound for an unknown, expired or foreign id."""
        if conv_id is None:
            return Conversation(str(uuid.uuid4()))
        cid = conversation_id(conv_id)
        with self.db.connection() as conn:
            row = conn.execute(
                f"SELECT c.owner FROM conversations c WHERE c.id = %s AND {self._live()}", (cid,)
            ).fetchone()
            if row is None or row[0] != owner:
                raise NotFound("no such conversation")
            rows = conn.execute(
                "SELECT standalone_question FROM turns WHERE conversation_id = %s"
                " ORDER BY ordinal DESC LIMIT %s",
                (cid, self.max_turns),
            ).fetchall()
        return Conversation(cid, [r[0] for r in reversed(rows)], new=False)

    def add_turn(
        self, conversation: Conversation, owner: str, question: str, body: dict[str, Any]
    ) -> None:
        """Store an answered turn (`body`: the /v1/ask body), creating the conversation with
        its first turn.

        Every answer records a turn, so this write is on the ask path: its transaction goes
        out in one pipeline (one round trip, BEGIN and COMMIT included), and its commit does
        not wait for the WAL flush (an fsync, ~3 ms here): the turn is visible to the
        follow-up at once, and a crash of the database server can lose only the last fraction
        of a second of turns, never corrupt them. A failed statement leaves the transaction
        open; the pool's connection rolls it back."""
        with self.db.connection(autocommit=True) as conn, conn.pipeline():
            conn.execute("BEGIN")
            conn.execute("SET LOCAL synchronous_commit = off")
            if conversation.new:
                self.purge(conn)
            conn.execute(
                "INSERT INTO conversations (id, owner) VALUES (%s, %s)"
                " ON CONFLICT (id) DO UPDATE SET updated_at = now()",
                (conversation.id, owner),
            )
            conn.execute(
                "INSERT INTO turns (conversation_id, ordinal, question, standalone_question,"
                " rewrite, answer, answerable, reason, citations)"
                " SELECT %s, coalesce(max(ordinal), 0) + 1, %s, %s, %s, %s, %s, %s, %s"
                " FROM turns WHERE conversation_id = %s",
                (
                    conversation.id,
                    question,
                    body.get("standalone_question") or question,
                    body.get("rewrite") or "standalone",
                    body["answer"],
                    body["answerable"],
                    body["reason"],
                    json.dumps(body.get("citations", []), ensure_ascii=False),
                    conversation.id,
                ),
            )
            conn.execute("COMMIT")
        conversation.previous.append(body.get("standalone_question") or question)
        conversation.new = False

    def get(self, conv_id: str, owner: str) -> dict[str, Any]:
        cid = conversation_id(conv_id)
        with self.db.connection() as conn:
            row = conn.execute(
                f"SELECT c.owner, c.created_at, c.updated_at FROM conversations c"
                f" WHERE c.id = %s AND {self._live()}",
                (cid,),
            ).fetchone()
            if row is None or row[0] != owner:
                raise NotFound("no such conversation")
            turns = conn.execute(
                "SELECT ordinal, question, standalone_question, rewrite, answer, answerable,"
                " reason, citations, created_at FROM turns WHERE conversation_id = %s"
                " ORDER BY ordinal",
                (cid,),
            ).fetchall()
        keys = (
            "n",
            "question",
            "standalone_question",
            "rewrite",
            "answer",
            "answerable",
            "reason",
            "citations",
            "created_at",
        )
        return {
            "id": cid,
            "created_at": row[1],
            "updated_at": row[2],
            "turns": [dict(zip(keys, t, strict=True)) for t in turns],
        }

    def delete(self, conv_id: str, owner: str) -> None:
        cid = conversation_id(conv_id)
        with self.db.connection() as conn:
            cur = conn.execute(
                "DELETE FROM conversations WHERE id = %s AND owner = %s", (cid, owner)
            )
            conn.commit()
        if cur.rowcount == 0:
            raise NotFound("no such conversation")

    def purge(self, conn: Any) -> int:
        """Delete the conversations past the retention period (their turns go with them)."""
        if not self.retention_days:
            return 0
        cur = conn.execute(f"DELETE FROM conversations c WHERE NOT ({self._live()})")
        return cur.rowcount or 0
