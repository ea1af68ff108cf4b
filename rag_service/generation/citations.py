"""Claim-level verification of a language model's answer against the passages it cites.

A model's reply is read in any of the styles models actually write (markers before or after
punctuation, `[1, 2]`, `[1][2]`, `【1】`, `(source 1)`, "According to passage 2, …", citations
only in a final `Sources:` line, a `QUOTES:` block with curly quotes or ellipses, bullets, line
breaks, JSON) and split into claims, each with the passage numbers it cites and any quote
the model gave.

A claim is *verified* only when one span of a cited passage (the model's own quote if it can
be found, else the passage sentence, or pair of adjacent sentences, that supports it best)
contains the claim's checkable content:
- every figure — number, amount, percentage, date — compared by value after normalisation
  (`$72k` = `$72,000` = `72 000` = "seventy-two thousand"; a currency symbol, a `%` or a
  measure word such as "per day" must not contradict the span's),
- every proper noun or capitalised entity (also found in the passage's heading or title),
- a negation (and a span's negation must not be silently dropped),
plus enough of the claim's other content words. Unverified claims are dropped from the answer,
not just their citations. Nothing here knows the corpus: no subject words, no unit lists
beyond the language's own (months, time spans, number words).
"""

from __future__ import annotations

import itertools
import json
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from rag_service.generation.base import Claim, DraftCitation, GivenQuote, Passage
from rag_service.retrieval.text import sentence_spans

SENTINEL = "NOT_IN_DOCUMENTS"

# -- reading a reply -------------------------------------------------------------------------

_NUMS = r"\d{1,3}(?:\s*(?:,|;|-|–|&|and)\s*\d{1,3})*"
_BRACKET_MARKER = re.compile(
    r"\[\^?\s*(?:(?:passages?|sources?|docs?|documents?|refs?|references?)\.?\s*#?\s*:?\s*)?"
    rf"(?P<n>{_NUMS})\s*\]"
    rf"|【\s*(?P<n2>{_NUMS})\s*(?:†[^】]*)?】"
    r"|\(\s*(?:see\s+)?(?:passages?|sources?|docs?|documents?|refs?|references?)\.?\s*#?\s*:?\s*"
    rf"(?P<n3>{_NUMS})\s*\)",
    re.IGNORECASE,
)
# "According to passage 2", "Passage 1 states", "(as stated in source 3)"
_PROSE_MARKER = re.compile(
    r"\b(?:according\s+to\s+|as\s+(?:stated|noted|shown|mentioned|reported)\s+in\s+|per\s+"
    r"|from\s+|in\s+|based\s+on\s+)?(?:the\s+)?(?:(?:passage|source|document)\s+#?"
    r"(?P<n>\d{1,3})|(?:passages|sources|documents)\s+(?P<ns>\d{1,3}(?:\s*,\s*\d{1,3})*"
    r"(?:\s*(?:and|&|-|–)\s*\d{1,3})?))\b(?:\s+(?:states?|says?|notes?|shows?|reports?|mentions?|indicates?"
    r"|explains?)(?:\s+that)?)?,?",
    re.IGNORECASE,
)
_TRAILER = re.compile(
    r"^[ \t>#*_-]*(?P<head>quotes?|sources?|references?|citations?|evidence|supporting quotes?"
    r"|quoted evidence)[*_ \t]*:[*_ \t]*(?P<rest>.*)$",
    re.IGNORECASE | re.MULTILINE,
)
_BULLET = re.compile(r"^\s*(?:[-*•·‣▪–]|\d{1,2}[.)](?=\s)|#{1,6}(?=\s))\s*")
_QUOTED = re.compile(r"[\"“”„«»]\s*(.+?)\s*[\"“”„«»]|(?<!\w)'\s*(.+?)\s*'(?!\w)")
_TRAILER_MARK = re.compile(
    rf"^\s*(?:[-*•]\s*)?(?:\[\s*(?P<a>{_NUMS})\s*\]|【\s*(?P<b>{_NUMS})\s*】|\(\s*(?P<c>{_NUMS})\s*\)"
    r"|(?:passages?|sources?|documents?)\s*#?\s*(?P<d>" + _NUMS + r")|(?P<e>\d{1,3})[.):])"
    r"\s*[:\-–—]?\s*",
    re.IGNORECASE,
)
_SENTENCE_END = re.compile(r"[.!?]+(?=[\s\"”’)\]]|$)")
_ABBREV = re.compile(r"\b(?:e\.g|i\.e|vs|etc|approx|cf|Dr|Mr|Ms|Mrs|St|No|Fig|al)\.$", re.I)
_FRAMING = re.compile(
    r"^\W*(?:based on|according to|here(?:'s| is| are)|sure|certainly|of course|great question"
    r"|in summary|to summari[sz]e|overall|in short|the (?:provided |given )?(?:passages?|"
    r"documents?|sources?|context)|from the (?:provided |given )?(?:passages?|documents?|"
    r"sources?|context)|answer\b)",
    re.IGNORECASE,
)
_REFUSAL = re.compile(
    r"(?:\b(?:not|no|cannot|unable)\b|n't\b)[^.]{0,60}\b(?:contain|mention|say|state|specify|provide"
    r"|include|detail|answer|information|data|cover|address|discuss|find|found|know|determine)"
    r"|\b(?:i (?:do not|don't|cannot|can't|could not|couldn't|am unable to))\b",
    re.IGNORECASE,
)
_REFUSAL_OBJECT = re.compile(
    r"\b(?:passages?|documents?|sources?|context|provided|text|information|i)\b", re.IGNORECASE
)
_SENTINEL_LOOSE = re.compile(r"\bNOT[\s_-]*IN[\s_-]*(?:THE[\s_-]*)?DOCUMENTS?\b")
_CLAUSE_GOES_ON = re.compile(r"\s*(?:[,;]\s*)?(?:and|but|while|whereas|with|;)?\s*\w")
_FENCE = re.compile(r"^\s*```(?:json|JSON)?\s*\n?(.*?)\n?```\s*$", re.DOTALL)


def _numbers(spec: str) -> list[int]:
    """'1, 2', '1-3', '2 and 4' → [1, 2], [1, 2, 3], [2, 4]."""
    out: list[int] = []
    for part in re.split(r"\s*(?:,|;|&|and)\s*", spec):
        if m := re.fullmatch(r"(\d{1,3})\s*[-–]\s*(\d{1,3})", part.strip()):
            a, b = int(m[1]), int(m[2])
            out.extend(range(a, b + 1) if 0 < b - a < 20 else (a, b))
        elif part.strip().isdigit():
            out.append(int(part))
    return out


def is_sentinel(text: str) -> bool:
    """The "not in the documents" reply, however it was dressed (quotes, bold, a full stop,
    spaces instead of underscores, lower case when it is the whole reply)."""
    if SENTINEL in text or _SENTINEL_LOOSE.search(text):
        return True
    bare = re.sub(r"[^a-z]+", "", text.lower())
    return bare in {"notindocuments", "notinthedocuments"}


@dataclass
class Segment:
    """A piece of the answer as displayed: a claim, framing ("Based on the passages:"), or a
    refusal in prose. `newline` says whether it starts a new line (bullets keep their shape)."""

    text: str
    kind: str  # "claim" | "framing" | "refusal"
    newline: bool = False
    prefix: str = ""
    claim: int | None = None  # index into Reply.claims


@dataclass
class Reply:
    """A model's reply read into claims; `abstained` when it said the sentinel."""

    claims: list[Claim] = field(default_factory=list)
    segments: list[Segment] = field(default_factory=list)
    abstained: bool = False
    mode: str = "text"


def _marker_spans(text: str) -> list[tuple[int, int, list[int], bool]]:
    """(start, end, passage numbers, is_bracket) for every citation marker in `text`."""
    spans = [
        (m.start(), m.end(), _numbers(m["n"] or m["n2"] or m["n3"]), True)
        for m in _BRACKET_MARKER.finditer(text)
    ]
    taken = [(s, e) for s, e, _, _ in spans]
    for m in _PROSE_MARKER.finditer(text):
        if not any(s < m.end() and m.start() < e for s, e in taken):
            spans.append((m.start(), m.end(), _numbers(m["n"] or m["ns"]), False))
    return sorted(spans)


def strip_markers(text: str) -> str:
    """The claim without its citation markers or "according to passage n" framing."""
    out, last = [], 0
    for s, e, _, _ in _marker_spans(text):
        out.append(text[last:s])
        last = e
    out.append(text[last:])
    return re.sub(r"\s+([.,;:!?])", r"\1", re.sub(r"[ \t]+", " ", "".join(out))).strip()


def _split_trailer(text: str) -> tuple[str, dict[int, list[str]], list[int]]:
    """Body, quotes by passage number, and passages listed without quotes (a Sources line)."""
    m = _TRAILER.search(text)
    if m is None:
        return text, {}, []
    body, head = text[: m.start()], m["head"].lower()
    quotes: dict[int, list[str]] = {}
    listed: list[int] = []
    quote_head = head.startswith(("quote", "evidence", "supporting"))
    lines = [m["rest"], *text[m.end() :].splitlines()]
    for line in lines:
        if not line.strip():
            continue
        # a Sources line may list several: "[1], [3]" or "passages 1 and 2"
        marks = _TRAILER_MARK.match(line)
        if marks is None:
            found = [n for _, _, ns, _ in _marker_spans(line) for n in ns]
            listed.extend(found)
            continue
        ns = _numbers(next(g for g in marks.groups() if g))
        rest = line[marks.end() :].strip()
        q = _QUOTED.search(rest)
        quote = (q[1] or q[2]) if q else (rest if quote_head else "")
        more = [n for _, _, xs, _ in _marker_spans(rest) for n in xs] if not q else []
        if quote and not more:
            for n in ns:
                quotes.setdefault(n, []).append(quote.strip())
        else:
            listed.extend(ns + more)
    return body, quotes, listed


def _segments_of_line(line: str) -> list[str]:
    """Sentences of one line; a marker written after the full stop belongs to the sentence
    before it, and a bracket marker followed by more words ends a clause."""
    spans = _marker_spans(line)
    leading = bool(spans) and not line[: spans[0][0]].strip()
    cuts: list[int] = []
    for m in _SENTENCE_END.finditer(line):
        end = m.end()
        if _ABBREV.search(line[: m.end()]) or re.match(r"\d", line[end : end + 1]):
            continue
        if not leading:  # "… $72,000. [1] In Berlin …": [1] closes the first sentence
            for s, e, _, bracket in spans:
                if bracket and s >= end and not line[end:s].strip():
                    end = e
        cuts.append(end)
    if not leading:
        for _s, e, _, bracket in spans:
            after = line[e:]
            if bracket and _CLAUSE_GOES_ON.match(after):
                nxt = re.match(r"\s*[,;]?", after)
                cuts.append(e + (nxt.end() if nxt else 0))
    pieces, last = [], 0
    for c in sorted(set(cuts)):
        if c > last:
            pieces.append(line[last:c])
            last = c
    pieces.append(line[last:])
    # a piece that is nothing but markers joins the one before
    merged: list[str] = []
    for p in pieces:
        if merged and not strip_markers(p).strip(" .,;:"):
            merged[-1] += p
        elif p.strip():
            merged.append(p)
    return [p.strip() for p in merged if p.strip()]


def _has_checkable(text: str) -> bool:
    facts = extract_facts(strip_markers(text))
    return bool(facts.quantities or facts.dates or facts.entities)


def parse_reply(text: str) -> Reply:
    """Read a model's free-text (or JSON) reply into claims."""
    stripped = text.strip()
    fenced = _FENCE.match(stripped)
    if fenced or stripped.startswith(("{", "[")):
        try:
            return parse_json_reply(json.loads(fenced[1] if fenced else stripped))
        except (ValueError, TypeError, AttributeError):
            pass
    if not stripped or is_sentinel(stripped):
        return Reply(abstained=True)
    body, quotes, listed = _split_trailer(stripped)
    reply = Reply()
    first_line = True
    for raw_line in body.splitlines():
        bullet = _BULLET.match(raw_line)
        prefix = bullet.group(0).strip() if bullet else ""
        line = raw_line[bullet.end() :] if bullet else raw_line
        line = line.replace("**", "").replace("__", "").strip()
        if not line:
            continue
        if prefix.startswith("#"):
            prefix = ""
        if not strip_markers(line).strip(" .,;:") and reply.segments:  # a line of markers
            last = reply.segments[-1]
            last.text += " " + line
            if last.claim is not None:
                claim = reply.claims[last.claim]
                claim.text = last.text
                claim.passages = _dedupe([*claim.passages, *_cited(line)])
            continue
        for i, piece in enumerate(_segments_of_line(line)):
            seg = Segment(piece, "claim", newline=(i == 0 and not first_line), prefix=prefix)
            if i:
                seg.prefix = ""
            cited = _cited(piece)
            bare = strip_markers(piece)
            if not cited and not _has_checkable(piece):
                if _REFUSAL.search(bare) and _REFUSAL_OBJECT.search(bare):
                    seg.kind = "refusal"
                elif bare.rstrip().endswith(":") or _FRAMING.match(bare) or len(bare) < 3:
                    seg.kind = "framing"
            if seg.kind == "claim":
                passages = cited or listed
                given = tuple(GivenQuote(n, q) for n in passages for q in quotes.get(n, []))
                seg.claim = len(reply.claims)
                reply.claims.append(Claim(piece, tuple(passages), given))
            reply.segments.append(seg)
        first_line = False
    if not reply.claims and any(s.kind == "refusal" for s in reply.segments):
        reply.abstained = True
    return reply


def _cited(text: str) -> tuple[int, ...]:
    return _dedupe(n for _, _, ns, _ in _marker_spans(text) for n in ns)


def _dedupe(ns: Iterable[int]) -> tuple[int, ...]:
    return tuple(dict.fromkeys(ns))


_CLAIM_TEXT_KEYS = ("text", "claim", "statement", "sentence", "answer")
_CLAIM_REF_KEYS = ("passages", "passage", "sources", "source", "citations", "refs", "ids", "n")
_CLAIM_QUOTE_KEYS = ("quotes", "quote", "evidence", "supporting_quote", "support")


def _as_list(v: object) -> list[Any]:
    if v is None:
        return []
    return v if isinstance(v, list) else [v]


def _refs(v: object) -> list[int]:
    out: list[int] = []
    for x in _as_list(v):
        if isinstance(x, bool):
            continue
        if isinstance(x, int):
            out.append(x)
        elif isinstance(x, str):
            out.extend(int(d) for d in re.findall(r"\d{1,3}", x))
        elif isinstance(x, dict):
            out.extend(_refs(x.get("passage") or x.get("n") or x.get("source") or x.get("id")))
    return out


def _quotes_of(v: object) -> list[str]:
    out = []
    for x in _as_list(v):
        if isinstance(x, str) and x.strip():
            out.append(x.strip())
        elif isinstance(x, dict):
            out.extend(_quotes_of(x.get("quote") or x.get("text")))
    return out


def parse_json_reply(data: object) -> Reply:
    """A JSON reply: our schema (`{"answer_found", "claims": [{"text", "passages",
    "quotes"}]}`) or the shapes models improvise (`{"answer": "… [1]", "citations": [...]}`,
    a bare list of claims)."""
    if isinstance(data, list):
        data = {"claims": data}
    if not isinstance(data, dict):
        raise TypeError("not a JSON object")
    found = data.get("answer_found", data.get("answerable", data.get("found", True)))
    if found is False or data.get("not_in_documents") is True:
        return Reply(abstained=True, mode="json")
    claims = data.get("claims") or data.get("statements")
    if not isinstance(claims, list):
        answer = data.get("answer")
        if not isinstance(answer, str):
            raise TypeError("no claims and no answer")
        quoted = "\n".join(
            f'[{n}] "{q}"'
            for c in _as_list(data.get("citations") or data.get("quotes") or data.get("sources"))
            if isinstance(c, dict)
            for n in _refs(c)
            for q in _quotes_of(c)
        )
        reply = parse_reply(answer + (f"\nQUOTES:\n{quoted}" if quoted else ""))
        reply.mode = "json"
        return reply
    reply = Reply(mode="json")
    for raw in claims:
        item = {"text": raw} if isinstance(raw, str) else raw
        if not isinstance(item, dict):
            continue
        text = next((item[k] for k in _CLAIM_TEXT_KEYS if isinstance(item.get(k), str)), "")
        if not text.strip():
            continue
        if is_sentinel(text):
            continue
        refs = _dedupe(
            [*_cited(text), *(n for k in _CLAIM_REF_KEYS if k in item for n in _refs(item[k]))]
        )
        quotes = [q for k in _CLAIM_QUOTE_KEYS if k in item for q in _quotes_of(item[k])]
        given = tuple(GivenQuote(n, q) for q in quotes for n in (refs or (0,)))
        shown = text.strip()
        if refs and not _cited(shown):
            shown += " " + "".join(f"[{n}]" for n in refs)
        seg = Segment(shown, "claim", newline=False, claim=len(reply.claims))
        reply.claims.append(Claim(shown, refs, given))
        reply.segments.append(seg)
    if not reply.claims:
        reply.abstained = True
    return reply


def reply_from_blocks(blocks: list[tuple[str, list[GivenQuote]]]) -> Reply:
    """Anthropic's native citations: text blocks, each with the spans it cites (`char_location`
    offsets into the passage's text). The text is read like any reply; each claim also gets
    the spans of the blocks it overlaps, as given quotes with exact offsets."""
    full, ranges = "", []
    for text, cites in blocks:
        ranges.append((len(full), len(full) + len(text), cites))
        full += text
    reply = parse_reply(full)
    reply.mode = "native" if any(c for _, _, c in ranges) else "text"
    if reply.abstained:
        return reply
    cursor = 0
    for seg in reply.segments:
        at = full.find(seg.text, cursor)
        if at < 0:
            continue
        cursor = at + len(seg.text)
        spans = [q for s, e, cites in ranges if s < cursor and at < e for q in cites]
        if not spans:
            continue
        if seg.claim is None:  # cited text is a claim however it reads ("Based on …, x.")
            seg.kind, seg.claim = "claim", len(reply.claims)
            reply.claims.append(Claim(seg.text))
        claim = reply.claims[seg.claim]
        claim.passages = _dedupe([*claim.passages, *(q.n for q in spans)])
        claim.quotes = tuple(dict.fromkeys([*spans, *claim.quotes]))
    return reply


# -- what a claim asserts -------------------------------------------------------------------

_CURRENCY = "".join(chr(c) for c in range(0x20, 0x2100) if unicodedata.category(chr(c)) == "Sc")
_CUR = f"[{re.escape(_CURRENCY)}]"
_MAG = {"k": 1e3, "thousand": 1e3, "m": 1e6, "mn": 1e6, "million": 1e6, "bn": 1e9, "billion": 1e9}
_QUANTITY = re.compile(
    rf"(?P<cur>{_CUR})?\s?(?P<num>(?<![\d.,])\d{{1,3}}(?:(?:,|[ \u00a0\u202f](?=\d{{3}}(?!\d)))"
    rf"\d{{3}})+(?:\.\d+)?|(?<![\d.,])\d+(?:\.\d+)?)"
    r"(?:\s?(?P<mag>k|K|m|M|mn|bn|BN|thousand|million|billion)(?![A-Za-z]))?"
    r"(?P<pct>\s?%|\s?per\s?cent\b|\s?percent(?:age)?(?:\s+points?)?\b|\s?pp\b"
    r"|-?\s?(?:percentage\s+)?points?\b)?",
)
_RANGE_GAP = re.compile(r"^\s*(?:-|–|—|to|and)\s*$", re.I)
_TIME_UNITS = {
    "second": "second",
    "minute": "minute",
    "hour": "hour",
    "hr": "hour",
    "day": "day",
    "daily": "day",
    "week": "week",
    "weekly": "week",
    "wk": "week",
    "month": "month",
    "monthly": "month",
    "mo": "month",
    "year": "year",
    "yearly": "year",
    "annual": "year",
    "annually": "year",
    "annum": "year",
    "yr": "year",
    "pa": "year",
}
_UNIT_AFTER = re.compile(
    r"^\s*(?:/|-|per\s+|a\s+|an\s+|each\s+|every\s+)?\s*(?P<u>[A-Za-z]+)", re.I
)
_MONTHS = {
    m: i + 1
    for i, names in enumerate(
        [
            ("january", "jan"),
            ("february", "feb"),
            ("march", "mar"),
            ("april", "apr"),
            ("may",),
            ("june", "jun"),
            ("july", "jul"),
            ("august", "aug"),
            ("september", "sep", "sept"),
            ("october", "oct"),
            ("november", "nov"),
            ("december", "dec"),
        ]
    )
    for m in names
}
_MONTH = r"(?P<mon>" + "|".join(sorted(_MONTHS, key=len, reverse=True)) + r")\.?"
_DATES = [
    re.compile(r"\b(?P<y>\d{4})-(?P<m>\d{1,2})-(?P<d>\d{1,2})\b"),
    re.compile(
        rf"\b(?P<d>\d{{1,2}})(?:st|nd|rd|th)?\s+(?:of\s+)?{_MONTH},?\s+(?P<y>\d{{4}})\b", re.I
    ),
    re.compile(rf"\b{_MONTH}\s+(?P<d>\d{{1,2}})(?:st|nd|rd|th)?,?\s+(?P<y>\d{{4}})\b", re.I),
    re.compile(rf"\b{_MONTH},?\s+(?P<y>\d{{4}})\b", re.I),
]
_ONES = {
    w: i
    for i, w in enumerate(
        "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
        "fifteen sixteen seventeen eighteen nineteen".split()
    )
}
_TENS = {
    w: 10 * (i + 2)
    for i, w in enumerate("twenty thirty forty fifty sixty seventy eighty ninety".split())
}
_SCALE = {"hundred": 100, "thousand": 1000, "million": 10**6, "billion": 10**9}
_NUMBER_WORDS = re.compile(
    r"\b(?:(?:" + "|".join([*_ONES, *_TENS, *_SCALE, "and", "a"]) + r")(?:[\s-]+|\b))+",
    re.IGNORECASE,
)
_NEGATION = re.compile(
    r"\b(?:not|no|never|none|nor|neither|without|cannot|nobody|nothing)\b|n't\b", re.IGNORECASE
)
_WORD = re.compile(r"[A-Za-z][A-Za-z0-9'’]*|\d+[A-Za-z]+[A-Za-z0-9]*")
_STOP = frozenset(
    """a an the of in on at to for from by with and or but as is are was were be been being
    this that these those it its their there they them than then so such which who whom whose
    what when where why how do does did has have had having can could will would should may
    might must shall into onto over under about across per via also only just more most less
    least very much many some any each every all both either other another same own up down out
    off again further here our we you your i me my he she his her him us around approximately
    about roughly nearly almost typically usually generally while whereas if because
    new s t i'm i've i'd i'll sorry""".split()
)
# words that describe the citing, not the world
_FRAMING_WORDS = frozenset(
    """passage passages source sources document documents doc docs context text according
    states stated say says said mention mentions mentioned note notes noted indicate indicates
    indicated show shows shown report reported reports explain explains based provided given
    information answer figure figures""".split()
)
_SENTENCE_STARTERS = frozenset(
    """the a an in on at for from by with and or but as this that these those it its there
    they most many some any each every all both overall however also additionally moreover
    furthermore meanwhile typically generally according based yes no while whereas if when
    where what which who how why here so thus therefore hence because although though
    according notably importantly finally first second third lastly similarly likewise
    instead rather still yet then now today currently""".split()
)


def _stem(word: str) -> str:
    w = word.lower().replace("’", "'")
    w = w.removesuffix("'s").removesuffix("'")
    return w[:5] if len(w) > 5 else w.removesuffix("s") if len(w) > 3 else w


def words_to_numbers(text: str) -> str:
    """Spelled-out numbers to digits: "seventy-two thousand" → "72000", "five years" → "5
    years". A lone "a" or "one" stays a word."""

    def convert(m: re.Match[str]) -> str:
        raw = m.group(0)
        toks = [t for t in re.split(r"[\s-]+", raw.strip().lower()) if t]
        lead_a = bool(toks) and toks[0] == "a"
        body = [t for t in toks if t != "and"]
        if lead_a:
            body = body[1:]
        if not body or any(t == "a" for t in body):
            return raw
        if len(body) == 1 and body[0] in {"one", *_SCALE}:
            return raw
        total = current = 0
        for t in body:
            if t in _ONES:
                current += _ONES[t]
            elif t in _TENS:
                current += _TENS[t]
            elif t == "hundred":
                current = max(current, 1) * 100
            else:
                total += max(current, 1) * _SCALE[t]
                current = 0
        trail = " " if raw[-1:].isspace() or raw[-1:] == "-" else ""
        return ("a " if lead_a else "") + str(total + current) + trail

    return _NUMBER_WORDS.sub(convert, text)


def deglue(text: str) -> str:
    """Split scraped glue so figures read as figures: `Senior$120-165k$115-160k`,
    `premium28%`, `$600/day`."""
    text = unicodedata.normalize("NFKC", text)
    text = re.sub(rf"(?<=[A-Za-z])(?={_CUR}|\d)", " ", text)
    text = re.sub(r"(?<=\d[kKmM%])(?=[A-Za-z£$€]|" + _CUR + ")", " ", text)
    text = re.sub(r"(?<=\d)(?=" + _CUR + ")", " ", text)
    return re.sub(r"[\u2010-\u2015\u2212]", "-", text)


@dataclass(frozen=True)
class Quantity:
    value: float
    kind: str  # "%" for percentages and points, a currency symbol, or "" (a plain number)
    unit: str  # a time unit that follows ("day", "year"), or ""
    surface: str

    def matches(self, other: Quantity) -> bool:
        if abs(self.value - other.value) > 1e-9 * max(1.0, abs(self.value)):
            return False
        if self.kind and other.kind and self.kind != other.kind:
            return False
        if (self.kind == "%") != (other.kind == "%") and (self.kind or other.kind):
            return False  # 72% is not 72
        return not (self.unit and other.unit and self.unit != other.unit)


@dataclass
class Facts:
    quantities: list[Quantity]
    dates: list[tuple[int, int | None, int | None]]  # (year, month, day)
    entities: list[str]
    negated: bool
    words: list[str]  # stems of the other content words
    negated_words: set[str] = field(default_factory=set)  # stems right after a negation


def _dates(text: str) -> tuple[list[tuple[int, int | None, int | None]], str]:
    found: list[tuple[int, int | None, int | None]] = []

    def take(m: re.Match[str]) -> str:
        gd = m.groupdict()
        mon = gd.get("mon")
        month = _MONTHS[mon.lower().rstrip(".")] if mon else int(gd["m"])
        day = int(gd["d"]) if gd.get("d") else None
        if not 1 <= month <= 12 or (day is not None and not 1 <= day <= 31):
            return m.group(0)
        found.append((int(gd["y"]), month, day))
        return " "

    for pattern in _DATES:
        text = pattern.sub(take, text)
    return found, text


def _quantities(text: str) -> list[Quantity]:
    out: list[Quantity] = []
    matches = list(_QUANTITY.finditer(text))
    for i, m in enumerate(matches):
        num = re.sub(r"[,\s\u00a0\u202f]", "", m["num"])
        try:
            value = float(num)
        except ValueError:
            continue
        mag = (m["mag"] or "").lower()
        value *= _MAG.get(mag, 1.0)
        kind = "%" if m["pct"] else (m["cur"] or "")
        unit_m = _UNIT_AFTER.match(text[m.end() :])
        unit = _TIME_UNITS.get(unit_m["u"].lower().removesuffix("s"), "") if unit_m else ""
        unit = unit or (_TIME_UNITS.get(unit_m["u"].lower(), "") if unit_m else "")
        out.append(Quantity(value, kind, unit, m.group(0).strip()))
        # "$120-165k", "5 to 10 years": the later figure's scale, symbol and unit apply to both
        if i and _RANGE_GAP.match(text[matches[i - 1].end() : m.start()]):
            prev = out[-2]
            scale = _MAG.get(mag, 1.0)
            pv = prev.value
            if not (matches[i - 1]["mag"]) and scale > 1 and pv * scale <= value:
                pv *= scale
            out[-2] = Quantity(pv, prev.kind or kind, prev.unit or unit, prev.surface)
            last = out[-1]
            out[-1] = Quantity(last.value, last.kind or prev.kind, last.unit, last.surface)
    return out


def _entities(text: str) -> list[str]:
    """Runs of capitalised words not opening a sentence, acronyms and mixed-case names
    (`MLOps`, `vLLM`, `GPT-4`)."""
    out: list[str] = []
    run: list[str] = []
    start_of_sentence = True
    for m in re.finditer(r"[A-Za-z][A-Za-z0-9'’&./-]*[A-Za-z0-9]|[A-Za-z]|[.!?:;,()\n]", text):
        tok = m.group(0)
        if tok in ",()":
            if run:
                out.append(" ".join(run))
                run = []
            continue
        if tok in ".!?:;\n":
            if run:
                out.append(" ".join(run))
                run = []
            start_of_sentence = True
            continue
        core = tok.strip("'’.-")
        lower = core.lower()
        named = (
            (core[:1].isupper() and not start_of_sentence)
            or (sum(ch.isupper() for ch in core) >= 2)
            or (core[:1].islower() and any(ch.isupper() for ch in core[1:]))
        )
        if start_of_sentence and core[:1].isupper() and lower not in _SENTENCE_STARTERS:
            named = named or lower not in _STOP
        if lower in _FRAMING_WORDS or (
            lower in _STOP and not sum(ch.isupper() for ch in core) >= 2
        ):
            named = False
        if named and lower in _MONTHS:
            named = True
        if named:
            run.append(core)
        elif run:
            out.append(" ".join(run))
            run = []
        start_of_sentence = False
    if run:
        out.append(" ".join(run))
    return out


def extract_facts(text: str) -> Facts:
    """The checkable content of a claim (or of a span, to check against)."""
    text = deglue(text)
    text = re.sub(r"[“”„«»]", '"', text).replace("’", "'")
    text = words_to_numbers(text)
    dates, rest = _dates(text)
    quantities = _quantities(rest)
    entities = _entities(re.sub(r"(?<![A-Za-z-])\d[\d,.]*", " ", rest))
    toks = [t for t in _WORD.findall(rest)]
    negated_words: set[str] = set()
    for m in _NEGATION.finditer(rest):
        after = [t for t in _WORD.findall(rest[m.end() : m.end() + 40]) if t.lower() not in _STOP][
            :2
        ]
        negated_words.update(_stem(t) for t in after)
    words = [
        _stem(t)
        for t in toks
        if t.lower() not in _STOP
        and t.lower() not in _FRAMING_WORDS
        and not _NEGATION.fullmatch(t)
        and len(t) > 2
        and not t[0].isdigit()
    ]
    return Facts(quantities, dates, entities, bool(_NEGATION.search(rest)), words, negated_words)


# -- checking a claim against a span --------------------------------------------------------


@dataclass(frozen=True)
class Span:
    """A candidate supporting span: exact offsets inside passage `n`'s text, and the text it
    is read as (a table row's display form names its columns)."""

    n: int
    start: int
    end: int
    reading: str
    given: bool = False
    parts: tuple[str, ...] = ()  # the sentences of a two-sentence span


@dataclass
class Check:
    ok: bool
    reason: str
    overlap: float = 0.0


MIN_OVERLAP = 0.6  # share of a claim's other content words its span (or heading) must hold


def _context_stems(passage: Passage) -> set[str]:
    words = _WORD.findall(deglue(f"{passage.heading} {getattr(passage, 'title', '')}"))
    doc = re.sub(r"[_\-.]+", " ", passage.document)
    return {_stem(w) for w in [*words, *_WORD.findall(doc)]}


def _name_stems(entity: str) -> set[str]:
    """The stems of an entity's capitalised words ("Berlin-based" → {"berlin"})."""
    return {_stem(w) for w in _WORD.findall(entity) if w[:1].isupper() or w[:1].isdigit()}


def _borrowed_subject(claim: Facts, parts: tuple[str, ...]) -> str | None:
    """A claim may take its subject from the sentence before its figure's or from the heading
    ("… median rent …. In Berlin, the median rises to $1,850"), but not when the
    sentence holding its figures names something the claim leaves out: "the UK median is
    $1,850" moves Berlin's figure to the country. Returns that left-out name."""
    sentences = [pt[a:b] for pt in parts for a, b in sentence_spans(pt)]
    holding = [
        pt
        for pt in sentences
        if all(any(q.matches(s) for s in extract_facts(pt).quantities) for q in claim.quantities)
    ]
    claim_stems = set(claim.words) | {_stem(w) for e in claim.entities for w in _WORD.findall(e)}
    extra: list[str] = []
    for pt in holding:
        stems = {_stem(w) for w in _WORD.findall(deglue(pt))}
        if all(_name_stems(e) <= stems for e in claim.entities):
            return None
        extra = [e for e in extract_facts(pt).entities if not _name_stems(e) <= claim_stems]
        if not extra:
            return None
    return extra[0] if extra else None


def check_claim(
    claim: Facts, span_text: str, context: set[str], parts: tuple[str, ...] = ()
) -> Check:
    """Whether `span_text` (with the passage's heading/title words in `context`) holds the
    claim's checkable content."""
    span = extract_facts(span_text)
    for q in claim.quantities:
        if not any(q.matches(s) for s in span.quantities):
            return Check(False, f"figure {q.surface!r} not in the cited span")
    for y, m, d in claim.dates:
        if not any(
            sy == y and (m is None or sm == m) and (d is None or sd == d)
            for sy, sm, sd in span.dates
        ):
            # a bare year may be written as a plain number in the span
            if m is None and any(s.value == y for s in span.quantities):
                continue
            return Check(False, f"date {y}-{m or '?'}-{d or '?'} not in the cited span")
    span_stems = {_stem(w) for w in _WORD.findall(deglue(span_text))} | context
    span_stems |= {str(int(q.value)) for q in span.quantities if q.value.is_integer()}
    for entity in claim.entities:
        if not all(_stem(w) in span_stems for w in _WORD.findall(entity)):
            return Check(False, f"name {entity!r} not in the cited span")
    if claim.quantities and (other := _borrowed_subject(claim, parts or (span_text,))):
        return Check(False, f"the cited figure is about {other!r}, which the claim leaves out")
    if claim.negated and not span.negated:
        return Check(False, "negation not in the cited span")
    if span.negated and not claim.negated and span.negated_words & set(claim.words):
        return Check(False, "the cited span negates the claim")
    entity_stems = {_stem(w) for e in claim.entities for w in _WORD.findall(e)}
    words = [w for w in dict.fromkeys(claim.words) if w not in entity_stems]
    if not words:
        has_facts = claim.quantities or claim.dates or claim.entities
        return Check(True, "supported", 1.0) if has_facts else Check(False, "nothing to check")
    hit = sum(w in span_stems for w in words)
    overlap = hit / len(words)
    facts = len(claim.quantities) + len(claim.dates) + len(claim.entities)
    enough = overlap >= MIN_OVERLAP or (facts and len(words) - hit <= 1 and len(words) <= 3)
    if not enough:
        missing = [w for w in words if w not in span_stems]
        return Check(
            False, f"too little in common with the cited span (missing {missing})", overlap
        )
    return Check(True, "supported", overlap)


def _normalise_with_map(text: str) -> tuple[str, list[int]]:
    """Lower-cased text with quotes, dashes and whitespace unified, and for each character
    of the result the index of the original character it came from."""
    out: list[str] = []
    index: list[int] = []
    prev_space = True
    for i, ch in enumerate(text):
        c = ch
        if c in "“”„«»″":
            c = '"'
        elif c in "‘’‚′`":
            c = "'"
        elif "\u2010" <= c <= "\u2015" or c == "\u2212":
            c = "-"
        elif c.isspace():
            c = " "
        if c == " ":
            if prev_space:
                continue
            prev_space = True
        else:
            prev_space = False
        out.append(c.lower())
        index.append(i)
    return "".join(out), index


def locate_quote(quote: str, text: str) -> tuple[int, int] | None:
    """(start, end) of a model's quote inside `text`, tolerating curly/straight quotes,
    dashes, whitespace, case, and ellipses (fragments must appear in order)."""
    q = quote.strip().strip("\"'“”‘’").strip()
    fragments = [f.strip(" ,;") for f in re.split(r"\s*(?:\.\.\.|…|\[\.\.\.\]|\[…\])\s*", q)]
    fragments = [f for f in fragments if len(f) >= 3]
    if not fragments:
        return None
    norm, index = _normalise_with_map(text)
    start = end = None
    cursor = 0
    for frag in fragments:
        f, _ = _normalise_with_map(frag)
        f = f.strip()
        at = norm.find(f, cursor)
        if at < 0:
            f2 = f.rstrip(".")
            at = norm.find(f2, cursor) if f2 else -1
            if at < 0:
                return None
            f = f2
        if start is None:
            start = index[at]
        end = index[at + len(f) - 1] + 1
        cursor = at + len(f)
    assert start is not None and end is not None
    return start, end


def _passage_spans(p: Passage) -> list[Span]:
    """Sentences (answer units where the index has them) and pairs of adjacent ones."""
    singles: list[Span] = []
    seen: set[tuple[int, int]] = set()
    for u in sorted(p.units, key=lambda u: u.start):
        s, e = u.start - p.start, u.end - p.start
        if 0 <= s < e <= len(p.text) and (s, e) not in seen:
            seen.add((s, e))
            reading = p.text[s:e] if u.display == u.text else f"{p.text[s:e]}\n{u.display}"
            singles.append(Span(p.n, s, e, reading))
    for line in re.finditer(r"[^\n]+", p.text):
        for s, e in sentence_spans(p.text, line.start(), line.end()):
            if (s, e) not in seen:
                seen.add((s, e))
                singles.append(Span(p.n, s, e, p.text[s:e]))
    singles.sort(key=lambda sp: (sp.start, sp.end))
    pairs = [
        Span(p.n, a.start, b.end, f"{a.reading} {b.reading}", parts=(a.reading, b.reading))
        for a, b in itertools.pairwise(singles)
        if b.start >= a.end and b.start - a.end <= 2
    ]
    return singles + pairs


@dataclass
class ClaimResult:
    claim: Claim
    verified: bool
    reason: str
    citations: list[DraftCitation] = field(default_factory=list)


def verify_claim(claim: Claim, passages: list[Passage]) -> ClaimResult:
    """Find the span that supports `claim` in the passages it cites (every passage when it
    cites none): the model's quote first, else the best sentence or pair of sentences, else
    the fewest sentences (or quotes) that together hold all its checkable content."""
    by_n = {p.n: p for p in passages}
    cited = [by_n[n] for n in claim.passages if n in by_n]
    if claim.passages and not cited:
        return ClaimResult(claim, False, "cites no passage that was offered")
    pool = cited or passages
    facts = extract_facts(strip_markers(claim.text))
    best_fail: Check | None = None
    given: list[tuple[Span, Passage]] = []
    for p in pool:
        context = _context_stems(p)
        for q in claim.quotes:
            if q.n not in (p.n, 0):
                continue
            if q.start is not None and q.end is not None and 0 <= q.start < q.end <= len(p.text):
                loc: tuple[int, int] | None = (q.start, q.end)
            else:
                loc = locate_quote(q.text, p.text)
            if loc is None:
                continue
            span = Span(p.n, loc[0], loc[1], p.text[loc[0] : loc[1]], True)
            given.append((span, p))
            check = check_claim(facts, span.reading, context)
            if check.ok:
                return _supported(claim, p, [span])
            best_fail = best_fail or check
    # no usable quote: the best-supporting sentence (or adjacent pair) of each cited passage
    scored: list[tuple[float, int, Span, Passage]] = []
    for p in pool:
        context = _context_stems(p)
        for span in _passage_spans(p):
            check = check_claim(facts, span.reading, context, span.parts)
            if check.ok:
                scored.append((check.overlap, -(span.end - span.start), span, p))
            elif best_fail is None or check.overlap > best_fail.overlap:
                best_fail = check
    if scored:
        _, _, span, p = max(scored, key=lambda t: (t[0], t[1]))
        return _supported(claim, p, [span])
    result = _cover(claim, facts, pool, given)
    if result is not None:
        return result
    return ClaimResult(claim, False, best_fail.reason if best_fail else "no supporting span")


MAX_SPANS = 6  # a claim may draw on at most this many sentences or quotes (a list answer)


def _cover(
    claim: Claim, facts: Facts, pool: list[Passage], given: list[tuple[Span, Passage]]
) -> ClaimResult | None:
    """A claim drawing on several sentences (a list, a comparison across passages): the
    fewest spans of its cited passages — the model's quotes first — that together hold its
    figures, dates and names, and then its words; checked as one reading like a single span
    (every figure, name and negation still has to be found)."""
    n_items = len(facts.quantities) + len(facts.dates) + len(facts.entities)
    words = set(facts.words)

    def covered(sp: Span) -> tuple[frozenset[int], frozenset[str]]:
        f = extract_facts(sp.reading)
        stems = {_stem(w) for w in _WORD.findall(deglue(sp.reading))}
        hit = {i for i, q in enumerate(facts.quantities) if any(q.matches(s) for s in f.quantities)}
        base = len(facts.quantities)
        hit |= {base + i for i, d in enumerate(facts.dates) if d in f.dates}
        base += len(facts.dates)
        hit |= {
            base + i
            for i, e in enumerate(facts.entities)
            if all(_stem(w) in stems for w in _WORD.findall(e))
        }
        return frozenset(hit), frozenset(words & stems)

    options = given + [(sp, p) for p in pool for sp in _passage_spans(p) if not sp.parts]
    cover = [(sp, p, *covered(sp)) for sp, p in options]
    left_items, left_words = set(range(n_items)), set(words)
    chosen: list[tuple[Span, Passage]] = []
    while len(chosen) < MAX_SPANS and (left_items or left_words):
        sp, p, items, ws = max(
            cover,
            key=lambda t: (
                len(t[2] & left_items),
                len(t[3] & left_words),
                t[0].given,
                t[0].start - t[0].end,
            ),
        )
        if not (items & left_items or ws & left_words):
            break
        chosen.append((sp, p))
        left_items -= items
        left_words -= ws
        if left_items or len(chosen) < 2:
            continue
        reading = "\n".join(sp.reading for sp, _ in chosen)
        context = set().union(*(_context_stems(p) for _, p in chosen))
        if check_claim(facts, reading, context, tuple(sp.reading for sp, _ in chosen)).ok:
            chosen.sort(key=lambda t: (t[1].n, t[0].start))
            return ClaimResult(claim, True, "supported", [_citation(p, sp) for sp, p in chosen])
    return None


def _citation(p: Passage, span: Span) -> DraftCitation:
    return DraftCitation(
        p.chunk_id,
        p.text[span.start : span.end],
        p.start + span.start,
        p.start + span.end,
        p.score,
    )


def _supported(claim: Claim, p: Passage, spans: list[Span]) -> ClaimResult:
    return ClaimResult(claim, True, "supported", [_citation(p, s) for s in spans])


@dataclass
class Verification:
    """The outcome for a whole reply: the answer rebuilt from verified claims only."""

    reply: Reply
    results: list[ClaimResult]

    @property
    def mode(self) -> str:
        return self.reply.mode

    @property
    def answer(self) -> str:
        kept = {i for i, r in enumerate(self.results) if r.verified}
        parts: list[str] = []
        segs = self.reply.segments
        for i, seg in enumerate(segs):
            if seg.kind == "claim" and seg.claim not in kept:
                continue
            if seg.kind == "framing":
                # an introduction ("The main gaps are:") stays only before a kept claim
                nxt = next((s for s in segs[i + 1 :] if s.kind == "claim"), None)
                intro = seg.text.rstrip().endswith(":") and not _FRAMING.match(seg.text)
                if not intro or nxt is None or nxt.claim not in kept:
                    continue
            if seg.kind == "refusal" and not kept:
                continue
            text = f"{seg.prefix} {seg.text}".strip() if seg.prefix else seg.text
            sep = "\n" if (seg.newline or seg.prefix) and parts else " "
            parts.append((sep if parts else "") + text)
        return "".join(parts).strip()

    @property
    def refused(self) -> bool:
        """The model declined in prose ("the passages don't say") and no claim stands."""
        return not self.verified and any(s.kind == "refusal" for s in self.reply.segments)

    @property
    def citations(self) -> list[DraftCitation]:
        return [c for r in self.results if r.verified for c in r.citations]

    @property
    def verified(self) -> int:
        return sum(r.verified for r in self.results)

    def confirm(self, stored: set[tuple[int, int, int]]) -> None:
        """Keep only claims whose spans were confirmed against the stored documents'
        text (`(chunk_id, start, end)`); the others are dropped like unsupported ones."""
        for r in self.results:
            if r.verified and not any((c.chunk_id, c.start, c.end) in stored for c in r.citations):
                r.verified, r.reason = False, "cited span not found in the stored document"
            r.citations = [c for c in r.citations if (c.chunk_id, c.start, c.end) in stored]

    def summary(self) -> dict[str, int | str]:
        n = len(self.results)
        return {
            "claims": n,
            "verified": self.verified,
            "dropped": n - self.verified,
            "mode": self.mode,
        }

    def dropped(self) -> list[dict[str, object]]:
        return [
            {"claim": r.claim.text, "passages": list(r.claim.passages), "reason": r.reason}
            for r in self.results
            if not r.verified
        ]


def verify_reply(reply: Reply, passages: list[Passage]) -> Verification:
    """Every claim of the reply checked against its cited passages."""
    return Verification(reply, [verify_claim(c, passages) for c in reply.claims])
