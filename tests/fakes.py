"""Real HTTP servers on 127.0.0.1 that speak the OpenAI and Anthropic wire formats.

Each server replies from a script (a list of `Reply`, consumed in order, the last one
repeated) and records every request (path, headers, JSON body), so tests can check what the
official SDKs really sent.
"""

from __future__ import annotations

import contextlib
import json
import re
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Reply:
    status: int = 200
    body: Any = None  # JSON-serialisable, or bytes sent as is
    sse: list[tuple[str | None, Any]] | None = None  # (event name or None, data) frames
    delay_s: float = 0.0
    frame_delay_s: float = 0.0  # between server-sent events (a slow model)
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Seen:
    path: str
    headers: dict[str, str]
    body: Any


class _Server(ThreadingHTTPServer):
    request_queue_size = 256  # many clients at once (the default backlog is 5)
    daemon_threads = True


class FakeServer:
    def __init__(self, replies: list[Reply] | None = None) -> None:
        self.replies = list(replies or [])
        self.requests: list[Seen] = []
        self.active = 0  # requests being answered right now
        self.finished = 0  # ... and answered (or abandoned by the client) since the start
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("content-length") or 0))
                try:
                    body = json.loads(raw) if raw else None
                except ValueError:
                    body = raw
                with server._lock:
                    server.requests.append(
                        Seen(self.path, {k.lower(): v for k, v in self.headers.items()}, body)
                    )
                    reply = server.replies.pop(0) if len(server.replies) > 1 else server.replies[0]
                if callable(reply):
                    reply = reply(self.path, body)
                with server._lock:
                    server.active += 1
                try:
                    if reply.delay_s:
                        time.sleep(reply.delay_s)
                    with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                        self._send(reply)
                finally:
                    with server._lock:
                        server.active -= 1
                        server.finished += 1

            def _send(self, reply: Reply) -> None:
                self.send_response(reply.status)
                for k, v in reply.headers.items():
                    self.send_header(k, v)
                if reply.sse is not None:
                    self.send_header("content-type", "text/event-stream")
                    self.end_headers()
                    for event, data in reply.sse:
                        if reply.frame_delay_s:
                            time.sleep(reply.frame_delay_s)
                        frame = "" if event is None else f"event: {event}\n"
                        payload = data if isinstance(data, str) else json.dumps(data)
                        self.wfile.write(f"{frame}data: {payload}\n\n".encode())
                        self.wfile.flush()
                    return
                data = (
                    reply.body if isinstance(reply.body, bytes) else json.dumps(reply.body).encode()
                )
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self._httpd = _Server(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._httpd.server_address[1]}"
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    def __enter__(self) -> FakeServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()


# -- OpenAI chat completions ------------------------------------------------------------------
def openai_completion(
    text: str, model: str = "gpt-test", usage: tuple[int, int] = (120, 30)
) -> Reply:
    return Reply(
        body={
            "id": "chatcmpl-1",
            "object": "chat.completion",
            "created": 1,
            "model": model,
            "choices": [
                {
                    "index": 0,
                    "finish_reason": "stop",
                    "message": {"role": "assistant", "content": text},
                }
            ],
            "usage": {
                "prompt_tokens": usage[0],
                "completion_tokens": usage[1],
                "total_tokens": sum(usage),
            },
        }
    )


def openai_stream(
    pieces: list[str], model: str = "gpt-test", usage: tuple[int, int] = (120, 30)
) -> Reply:
    base = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": model}
    frames: list[tuple[str | None, Any]] = [
        (
            None,
            {
                **base,
                "choices": [
                    {
                        "index": 0,
                        "delta": {"role": "assistant", "content": ""},
                        "finish_reason": None,
                    }
                ],
            },
        )
    ]
    frames += [
        (None, {**base, "choices": [{"index": 0, "delta": {"content": p}, "finish_reason": None}]})
        for p in pieces
    ]
    frames.append((None, {**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}))
    frames.append(
        (
            None,
            {
                **base,
                "choices": [],
                "usage": {
                    "prompt_tokens": usage[0],
                    "completion_tokens": usage[1],
                    "total_tokens": sum(usage),
                },
            },
        )
    )
    frames.append((None, "[DONE]"))
    return Reply(sse=frames)


def openai_error(status: int, message: str = "boom") -> Reply:
    return Reply(status=status, body={"error": {"message": message, "type": "error", "code": None}})


def openai_embeddings(dim: int) -> Any:
    """A reply function: deterministic vectors (hash of the text) for every input."""

    def reply(path: str, body: Any) -> Reply:
        inputs = body["input"] if isinstance(body["input"], list) else [body["input"]]
        data = []
        for i, text in enumerate(inputs):
            seed = sum(ord(c) for c in str(text)) or 1
            vec = [((seed * (j + 7)) % 97) / 97.0 - 0.5 for j in range(dim)]
            data.append({"object": "embedding", "index": i, "embedding": vec})
        return Reply(
            body={
                "object": "list",
                "data": data,
                "model": body["model"],
                "usage": {"prompt_tokens": 1, "total_tokens": 1},
            }
        )

    return reply


# -- Anthropic messages -----------------------------------------------------------------------
def anthropic_message(
    text: str, model: str = "claude-test", usage: tuple[int, int] = (150, 40)
) -> Reply:
    return Reply(
        body={
            "id": "msg_1",
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": [{"type": "text", "text": text}],
            "stop_reason": "end_turn",
            "stop_sequence": None,
            "usage": {"input_tokens": usage[0], "output_tokens": usage[1]},
        }
    )


def anthropic_stream(
    pieces: list[str], model: str = "claude-test", usage: tuple[int, int] = (150, 40)
) -> Reply:
    frames: list[tuple[str | None, Any]] = [
        (
            "message_start",
            {
                "type": "message_start",
                "message": {
                    "id": "msg_1",
                    "type": "message",
                    "role": "assistant",
                    "model": model,
                    "content": [],
                    "stop_reason": None,
                    "stop_sequence": None,
                    "usage": {"input_tokens": usage[0], "output_tokens": 1},
                },
            },
        ),
        (
            "content_block_start",
            {
                "type": "content_block_start",
                "index": 0,
                "content_block": {"type": "text", "text": ""},
            },
        ),
    ]
    frames += [
        (
            "content_block_delta",
            {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": p}},
        )
        for p in pieces
    ]
    frames += [
        ("content_block_stop", {"type": "content_block_stop", "index": 0}),
        (
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                "usage": {"output_tokens": usage[1]},
            },
        ),
        ("message_stop", {"type": "message_stop"}),
    ]
    return Reply(sse=frames)


def anthropic_error(status: int, message: str = "boom") -> Reply:
    return Reply(
        status=status, body={"type": "error", "error": {"type": "api_error", "message": message}}
    )


# -- an LLM judge for RAGAS (JSON mode: the schema arrives in the system message) --------------
# It judges by word overlap, so its verdicts depend on what it is shown: a statement is
# supported when the context holds its words, a context is useful when it holds the reference's,
# and texts sharing words embed close together. A wiring that sends the wrong text scores low.
_WORD = re.compile(r"[a-z0-9£$€%.,/]+")
_STOP = frozenset(
    "the a an is are was of in on to for and or it its this that with as by at".split()
)


def words(text: str) -> set[str]:
    return {w.strip(".,") for w in _WORD.findall(text.lower()) if w.strip(".,") not in _STOP} - {""}


def supported(claim: str, context: str) -> bool:
    """Every content word of `claim` is in `context`."""
    return bool(words(claim)) and words(claim) <= words(context)


def judged_input(prompt: str) -> dict[str, Any]:
    """The input RAGAS asks about: the JSON after its few-shot examples."""
    tail = prompt.rsplit("Now perform the same with the following input", 1)[1]
    raw = tail.split("input:", 1)[1].rsplit("Output:", 1)[0]
    return json.loads(raw)


def judge_verdict(title: str, given: dict[str, Any]) -> dict[str, Any]:
    if title == "StatementGeneratorOutput":  # one statement per sentence of the answer
        sentences = re.split(r"(?<=[.!?])\s+", given["answer"].strip())
        return {"statements": [x for x in sentences if x]}
    if title == "NLIStatementOutput":
        return {
            "statements": [
                {
                    "statement": st,
                    "reason": "word overlap",
                    "verdict": int(supported(st, given["context"])),
                }
                for st in given["statements"]
            ]
        }
    if title == "AnswerRelevanceOutput":  # the question the response answers: its own words
        return {"question": given["response"], "noncommittal": 0}
    if title == "ContextPrecisionOutput":
        useful = len(words(given["answer"]) & words(given["context"])) * 2 >= len(
            words(given["answer"])
        )
        return {"reason": "word overlap", "verdict": int(useful)}
    raise AssertionError(f"the judge stand-in does not know {title!r}")


def bag_of_words(dim: int) -> Any:
    """Embeddings where texts that share words are close (hashed bag of words)."""

    def reply(path: str, body: Any) -> Reply:
        inputs = body["input"] if isinstance(body["input"], list) else [body["input"]]
        data = []
        for i, text in enumerate(inputs):
            vec = [0.0] * dim
            for w in words(str(text)):
                vec[sum(map(ord, w)) % dim] += 1.0
            data.append({"object": "embedding", "index": i, "embedding": vec})
        usage = {"prompt_tokens": 1, "total_tokens": 1}
        return Reply(body={"object": "list", "data": data, "model": body["model"], "usage": usage})

    return reply


def judge(dim: int = 64) -> Any:
    """A reply function serving RAGAS's judge calls (chat completions that satisfy the
    requested JSON schema, judged by word overlap) and embeddings."""
    embed = bag_of_words(dim)

    def reply(path: str, body: Any) -> Reply:
        if path.endswith("/embeddings"):
            return embed(path, body)
        system = next(m["content"] for m in body["messages"] if m["role"] == "system")
        raw = system.split("json_schema:", 1)[1].split("Make sure to return", 1)[0]
        title = json.loads(raw)["title"]
        user = next(m["content"] for m in body["messages"] if m["role"] == "user")
        content = json.dumps(judge_verdict(title, judged_input(user)))
        return openai_completion(content, model=body["model"])

    return reply


# -- a scripted LLM: replies rendered against the passages the service actually sent -------------
_PASSAGE = re.compile(r'<passage n="(\d+)"[^>]*>\n(.*?)\n</passage>', re.DOTALL)


def passages_sent(body: Any) -> dict[int, str]:
    """Passage number → text, from an OpenAI or Anthropic request body (text prompt, or
    Anthropic `document` blocks, numbered from 1 in order)."""
    if "messages" not in body:
        return {}
    content = body["messages"][-1]["content"]
    if isinstance(content, list):
        docs = [b["source"]["data"] for b in content if b.get("type") == "document"]
        if docs:
            return {i + 1: d for i, d in enumerate(docs)}
        content = "".join(b.get("text", "") for b in content if b.get("type") == "text")
    return {int(n): text for n, text in _PASSAGE.findall(content)}


def question_sent(body: Any) -> str:
    content = body["messages"][-1]["content"]
    if isinstance(content, list):
        content = "".join(b.get("text", "") for b in content if b.get("type") == "text")
    return content.rsplit("Question:", 1)[-1].strip()


def render(template: str, passages: dict[int, str], needle: str) -> str:
    """`{n}`: the passage holding `needle` (99 when none does); `{m}`: another one."""
    n = next((k for k, text in passages.items() if needle in text), 99)
    m = next((k for k in passages if k != n), n)
    return template.replace("{n}", str(n)).replace("{m}", str(m))


def pieces_of(text: str, size: int = 7) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)] or [""]


def anthropic_cited_message(
    blocks: list[tuple[str, list[dict]]], model: str = "claude-test"
) -> Reply:
    """A Messages reply whose text blocks carry native `char_location` citations."""
    content = []
    for text, cites in blocks:
        block: dict[str, Any] = {"type": "text", "text": text}
        if cites:
            block["citations"] = cites
        content.append(block)
    return Reply(
        body={
            "id": "msg_1",
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": content,
            "stop_reason": "end_turn",
            "stop_sequence": None,
            "usage": {"input_tokens": 150, "output_tokens": 40},
        }
    )


def anthropic_cited_stream(
    blocks: list[tuple[str, list[dict]]], model: str = "claude-test"
) -> Reply:
    """The same reply as server-sent events (`citations_delta` then `text_delta` per block)."""
    frames: list[tuple[str | None, Any]] = [
        (
            "message_start",
            {
                "type": "message_start",
                "message": {
                    "id": "msg_1",
                    "type": "message",
                    "role": "assistant",
                    "model": model,
                    "content": [],
                    "stop_reason": None,
                    "stop_sequence": None,
                    "usage": {"input_tokens": 150, "output_tokens": 1},
                },
            },
        )
    ]
    for i, (text, cites) in enumerate(blocks):
        start = {"type": "text", "text": ""}
        if cites:
            start["citations"] = []
        frames.append(
            (
                "content_block_start",
                {"type": "content_block_start", "index": i, "content_block": start},
            )
        )
        for c in cites:
            frames.append(
                (
                    "content_block_delta",
                    {
                        "type": "content_block_delta",
                        "index": i,
                        "delta": {"type": "citations_delta", "citation": c},
                    },
                )
            )
        for p in pieces_of(text):
            frames.append(
                (
                    "content_block_delta",
                    {
                        "type": "content_block_delta",
                        "index": i,
                        "delta": {"type": "text_delta", "text": p},
                    },
                )
            )
        frames.append(("content_block_stop", {"type": "content_block_stop", "index": i}))
    frames += [
        (
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                "usage": {"output_tokens": 40},
            },
        ),
        ("message_stop", {"type": "message_stop"}),
    ]
    return Reply(sse=frames)


def char_location(passages: dict[int, str], n: int, quote: str) -> dict:
    """A native citation of `quote` in passage `n` (document index n - 1)."""
    text = passages[n]
    start = text.index(quote)
    return {
        "type": "char_location",
        "cited_text": quote,
        "document_index": n - 1,
        "document_title": f"Passage {n}",
        "start_char_index": start,
        "end_char_index": start + len(quote),
    }


def scripted(answer: Any) -> Any:
    """A reply function for both wire formats: `answer(body)` returns the reply text (or, for
    Anthropic, a list of (text, citations) blocks), sent as the request asked (stream or not)."""

    def reply(path: str, body: Any) -> Reply:
        out = answer(body)
        streaming = bool(body.get("stream"))
        model = body.get("model", "test-model")
        if path.endswith("/messages"):
            blocks = out if isinstance(out, list) else [(out, [])]
            if streaming:
                return anthropic_cited_stream(blocks, model)
            return anthropic_cited_message(blocks, model)
        text = out if isinstance(out, str) else "".join(t for t, _ in out)
        if streaming:
            return openai_stream(pieces_of(text), model)
        return openai_completion(text, model)

    return reply
