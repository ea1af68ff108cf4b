"""A scripted stand-in LLM, so the LLM path can be evaluated offline and in CI.

It serves the OpenAI chat-completions and Anthropic messages wire formats on 127.0.0.1 and
answers each labelled question the way a good model would: from the passages the service
actually sent, citing the passage that holds the labelled evidence, in a different citation
style from question to question (markers after or before the full stop, "according to passage
n", a final Sources line, a QUOTES block, bullets, JSON, Anthropic native citations, OpenAI
structured output). A question whose evidence is not among the passages sent, or that is
labelled unanswerable, gets the "not in the documents" sentinel.

`wrong-figures` does the same but puts a wrong figure into every third answer (in place of
the right one, or as an extra claim): the verifier must keep every one of them out of the
answers that ship. `injected` records them for the check.
"""

from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from evals.dataset import Row
from evals.metrics import QuestionResult, norm
from rag_service.core.config import Settings
from rag_service.generation.citations import SENTINEL

VARIANTS = ("correct", "wrong-figures")
_PASSAGE = re.compile(r'<passage n="(\d+)"[^>]*>\n(.*?)\n</passage>', re.DOTALL)
_FIGURE = re.compile(r"(?<![\w.])(\d{1,3}(?:,\d{3})+|\d+(?:\.\d+)?)(?![\d,])")


def _flat(text: str) -> str:
    return " ".join(text.split())


def _requested(body: dict[str, Any]) -> tuple[str, dict[int, str], bool]:
    """(question, passage number → text, native documents?) from either wire format."""
    content = body["messages"][-1]["content"]
    if isinstance(content, list):
        docs = [b["source"]["data"] for b in content if b.get("type") == "document"]
        text = "".join(b.get("text", "") for b in content if b.get("type") == "text")
        if docs:
            question = text.rsplit("Question:", 1)[-1].strip()
            return question, {i + 1: d for i, d in enumerate(docs)}, True
        content = text
    question = content.rsplit("Question:", 1)[-1].strip()
    return question, {int(n): t for n, t in _PASSAGE.findall(content)}, False


def wrong_figure(text: str) -> tuple[str, str] | None:
    """`text` with its first figure changed (72,000 → 79,000; 58 → 65), and the new figure."""
    m = _FIGURE.search(text)
    if m is None:
        return None
    raw = m[1]
    digits = raw.replace(",", "")
    value = float(digits)
    new = value + 7 * (10 ** max(0, len(digits.split(".")[0]) - 2)) if value >= 10 else value + 3
    shown = f"{new:,.0f}" if "," in raw else (f"{new:g}" if "." in raw else f"{new:.0f}")
    return text[: m.start(1)] + shown + text[m.end(1) :], shown


@dataclass
class Answer:
    """What the stand-in says: text, or native blocks (text, cited spans) for Anthropic."""

    text: str
    blocks: list[tuple[str, list[dict[str, Any]]]] | None = None
    claims: list[dict[str, Any]] | None = None  # for OpenAI structured output


@dataclass
class StandinLLM:
    rows: list[Row]
    variant: str = "correct"
    injected: dict[str, str] = field(default_factory=dict)  # question → wrong figure

    def __post_init__(self) -> None:
        if self.variant not in VARIANTS:
            raise ValueError(f"unknown stand-in variant {self.variant!r}; one of {VARIANTS}")
        self.by_question = {_flat(r.question): (i, r) for i, r in enumerate(self.rows)}
        self._lock = threading.Lock()
        standin = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers.get("content-length") or 0)))
                payload = standin.respond(self.path, body)
                data = json.dumps(payload).encode()
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._httpd.server_address[1]}"
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    def __enter__(self) -> StandinLLM:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def configure(self, settings: Settings, provider: str = "openai") -> Settings:
        """Settings whose `provider` is served by this stand-in."""
        from pydantic import SecretStr

        return settings.model_copy(
            update={
                "provider": provider,
                "openai_base_url": f"{self.url}/v1",
                "openai_api_key": SecretStr("standin"),
                "openai_model": "standin",
                "anthropic_base_url": self.url,
                "anthropic_api_key": SecretStr("standin"),
                "anthropic_model": "standin",
                "llm_max_retries": 0,
            }
        )

    # -- answering ------------------------------------------------------------------------

    def respond(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        question, passages, native = _requested(body)
        structured = "response_format" in body
        answer = self.answer(question, passages, native=native, structured=structured)
        model = body.get("model", "standin")
        if path.endswith("/messages"):
            blocks = answer.blocks or [(answer.text, [])]
            content = []
            for text, cites in blocks:
                block: dict[str, Any] = {"type": "text", "text": text}
                if cites:
                    block["citations"] = cites
                content.append(block)
            return {
                "id": "msg_standin",
                "type": "message",
                "role": "assistant",
                "model": model,
                "content": content,
                "stop_reason": "end_turn",
                "stop_sequence": None,
                "usage": {"input_tokens": len(json.dumps(body)) // 4, "output_tokens": 40},
            }
        text = answer.text
        if structured:
            claims = answer.claims or []
            text = json.dumps({"answer_found": bool(claims), "claims": claims})
        return {
            "id": "chatcmpl-standin",
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
                "prompt_tokens": len(json.dumps(body)) // 4,
                "completion_tokens": 40,
                "total_tokens": len(json.dumps(body)) // 4 + 40,
            },
        }

    def answer(
        self, question: str, passages: dict[int, str], *, native: bool, structured: bool
    ) -> Answer:
        found = self.by_question.get(_flat(question))
        if found is None or not found[1].answerable:
            return Answer(SENTINEL if (found and found[0] % 2) else f"{SENTINEL}.")
        i, row = found
        # each evidence quote, located in a passage that was sent
        located: list[tuple[int, str]] = []
        for ev in row.evidence:
            for n, text in passages.items():
                if _flat(ev) in _flat(text):
                    at = _flat(text).index(_flat(ev))
                    located.append((n, _original(text, at, _flat(ev))))
                    break
        if not located or len(located) < len(row.evidence):
            return Answer(SENTINEL)
        ns = list(dict.fromkeys(n for n, _ in located))
        # the labelled reference, unless it states a figure the cited passages do not (a sum,
        # a difference): then, like a careful model, the evidence in the passages' own words
        claim = row.reference.strip()
        cited = " ".join(_flat(passages[n]) for n in ns)
        if not claim or any(f not in cited for f in _FIGURE.findall(claim)):
            claim = "; ".join(q.rstrip(".") for _, q in located)
        claim = claim if claim.endswith((".", "!", "?")) else claim + "."
        extra = None
        if self.variant == "wrong-figures" and i % 3 == 0:
            changed = wrong_figure(claim)
            if changed is not None and i % 2 == 0:
                claim, shown = changed  # the only claim is wrong: nothing may ship
            else:  # an extra, invented claim beside the right one
                shown = "87%" if changed is None else changed[1]
                extra = "This is reported by 87% of employers." if changed is None else changed[0]
            self.injected[row.question] = shown
        return _styled(i, claim, extra, ns, located, passages, native=native, structured=structured)


def _original(text: str, flat_at: int, flat_quote: str) -> str:
    """The original text of a whitespace-flattened match (quotes keep the document's text)."""
    words = flat_quote.split()
    pattern = r"\s+".join(re.escape(w) for w in words)
    m = re.search(pattern, text)
    return m.group(0) if m else flat_quote


def _styled(
    i: int,
    claim: str,
    extra: str | None,
    ns: list[int],
    located: list[tuple[int, str]],
    passages: dict[int, str],
    *,
    native: bool,
    structured: bool,
) -> Answer:
    marks = "".join(f"[{n}]" for n in ns)
    quotes = "\n".join(f'[{n}] "{q}"' for n, q in located)
    body_claim = claim.rstrip(".")
    extra_txt = f" {extra.rstrip('.')} {marks}." if extra else ""
    if native:
        blocks: list[tuple[str, list[dict[str, Any]]]] = [("Based on the documents, ", [])]
        cites = [_char_location(passages, n, q) for n, q in located]
        blocks.append((body_claim[:1].lower() + body_claim[1:], cites))
        blocks.append((".", []))
        if extra:
            blocks.append((" " + extra.rstrip("."), cites))
            blocks.append((".", []))
        return Answer("".join(t for t, _ in blocks), blocks=blocks)
    if structured:
        claims = [{"text": claim, "passages": ns, "quotes": [q for _, q in located]}]
        if extra:
            claims.append({"text": extra, "passages": ns, "quotes": []})
        return Answer(claim, claims=claims)
    styles = [
        f"{body_claim} {marks}.{extra_txt}",
        f"{claim} {marks}{extra_txt}",
        f"According to passage {ns[0]}, {body_claim[:1].lower() + body_claim[1:]}."
        + (f" {extra}" if extra else ""),
        f"{claim}{(' ' + extra) if extra else ''}\n\nSources: {', '.join(f'[{n}]' for n in ns)}",
        f"{body_claim} {marks}.{extra_txt}\nQUOTES:\n{quotes}",
        f"- {body_claim} {''.join(f'【{n}】' for n in ns)}"
        + (f"\n- {extra} 【{ns[0]}】" if extra else ""),
        json.dumps(
            {
                "answer": f"{body_claim} {marks}.{extra_txt}",
                "citations": [{"passage": n, "quote": q} for n, q in located],
            }
        ),
        f"Based on the provided passages:\n\n{body_claim} (source {ns[0]}).{extra_txt}",
    ]
    return Answer(styles[i % len(styles)])


def _char_location(passages: dict[int, str], n: int, quote: str) -> dict[str, Any]:
    """Anthropic's native citation of `quote` in passage `n` (document index n - 1)."""
    start = passages[n].index(quote)
    return {
        "type": "char_location",
        "cited_text": quote,
        "document_index": n - 1,
        "document_title": f"Passage {n}",
        "start_char_index": start,
        "end_char_index": start + len(quote),
    }


def wrong_figures_shipped(
    standin: StandinLLM, results: list[QuestionResult]
) -> list[tuple[str, str]]:
    """(question id, figure) for every injected wrong figure found in a shipped answer."""
    out = []
    for r in results:
        figure = standin.injected.get(r.question)
        if not figure or not r.said_answerable:
            continue
        alone = rf"(?<![\d.,]){re.escape(norm(figure))}(?![\d]|[.,]\d)"
        if re.search(alone, norm(r.answer)):
            out.append((r.id, figure))
    return out
