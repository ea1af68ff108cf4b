"""Inline markup rendered to readable text, every character mapped back to its source.

Markdown (`**x**`, `` `x` ``, `[x](url)`, `![alt](src)`, escapes, entities) and reST
(``` ``x`` ```, `` :role:`x <target>` ``, `` `x <url>`_ ``, `x_`, `[#note]_`, `|sub|`) are read
by a table of rules: each rule's match becomes its readable text (often a group of it, rendered
again for nested markup) or nothing. The source is given as pieces — the content of each line
of a paragraph, without indentation, quote markers or bullets — so that wrapped lines join with
a space and `Mapped.source_span` finds the exact original span of any part of the result.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from dataclasses import dataclass

from ingestion.parsers.types import Mapped

# A rule's action: given the match, the name of the group to render recursively, a literal
# group to copy as is, a replacement string, or None (drop the markup).
Action = Callable[[re.Match[str]], tuple[str, str] | None]


@dataclass(frozen=True)
class InlineRules:
    pattern: re.Pattern[str]
    actions: dict[str, Action]


def render(text: str, pieces: list[tuple[int, int]], rules: InlineRules | None) -> Mapped:
    """Readable form of the source pieces (absolute spans of `text`), joined by spaces."""
    raw_parts: list[str] = []
    pos: list[int] = []
    for i, (s, e) in enumerate(pieces):
        if i:
            raw_parts.append("\n")
            pos.append(s)
        raw_parts.append(text[s:e])
        pos.extend(range(s, e))
    raw = "".join(raw_parts)
    out = Mapped()
    _render(raw, pos, 0, len(raw), rules, out, depth=0)
    return out.finish()


def _emit_literal(raw: str, pos: list[int], a: int, b: int, out: Mapped) -> None:
    for i in range(a, b):
        ch = raw[i]
        if ch == "\n":
            out.space(pos[i])
        else:
            out.add(ch, pos[i], pos[i] + 1, literal=True)


def _render(
    raw: str, pos: list[int], a: int, b: int, rules: InlineRules | None, out: Mapped, depth: int
) -> None:
    if rules is None or depth > 4:
        _emit_literal(raw, pos, a, b, out)
        return
    cursor = a
    for m in rules.pattern.finditer(raw, a, b):
        if m.start() < cursor or m.end() == m.start():
            continue
        _emit_literal(raw, pos, cursor, m.start(), out)
        cursor = m.end()
        name = m.lastgroup
        action = rules.actions.get(name or "")
        result = action(m) if action else None
        if result is None:
            continue
        how, value = result
        if how == "render":
            _render(raw, pos, m.start(value), m.end(value), rules, out, depth + 1)
        elif how == "literal":
            _emit_literal(raw, pos, m.start(value), m.end(value), out)
        else:  # replacement text: every character maps to the whole match
            span_end = pos[m.end() - 1] + 1
            out.add(value, pos[m.start()], span_end, literal=False)
    _emit_literal(raw, pos, cursor, b, out)


def _entity(m: re.Match[str]) -> tuple[str, str]:
    return ("text", html.unescape(m.group()))


def _group(name: str, how: str = "render") -> Action:
    return lambda m: (how, name)


def _drop(m: re.Match[str]) -> None:
    return None


MARKDOWN = InlineRules(
    re.compile(
        r"(?P<md_code>(?P<ticks>`+)[ ]?(?P<md_codetext>[^`](?:.*?[^`])?)[ ]?(?P=ticks)(?!`))"
        r"|(?P<md_image>!\[(?P<md_alt>[^\]]*)\]\((?:[^()\s]|\([^()]*\))*(?:\s+\"[^\"]*\")?\))"
        r"|(?P<md_link>\[(?P<md_ltext>(?:[^\[\]]|\[[^\]]*\])+)\]"
        r"\(\s*(?:[^()\s]|\([^()]*\)|\{%.*?%\}|\{\{.*?\}\})*(?:\s+[\"'][^\"']*[\"'])?\s*\))"
        r"|(?P<md_footref>\[\^[^\]\s]+\])"
        r"|(?P<md_reflink>\[(?P<md_rtext>[^\]]+)\]\[[^\]]*\])"
        r"|(?P<md_auto><(?P<md_url>(?:https?|mailto|ftp):[^>\s]+)>)"
        r"|(?P<md_escape>\\(?P<md_esc>[!-/:-@\[-`{-~]))"
        r"|(?P<md_break>\\(?=\n))"
        r"|(?P<md_entity>&(?:#\d{1,7}|#[xX][0-9a-fA-F]{1,6}|[A-Za-z][A-Za-z0-9]{1,31});)"
        r"|(?P<md_strike>~~(?=\S)|(?<=\S)~~)"
        r"|(?P<md_star>\*{1,3}(?=[^\s*])|(?<=[^\s*])\*{1,3})"
        r"|(?P<md_under>(?<![A-Za-z0-9_])_{1,3}(?=[^\s_])|(?<=[^\s_])_{1,3}(?![A-Za-z0-9_]))",
        re.DOTALL,
    ),
    {
        "md_code": _group("md_codetext", "literal"),
        "md_image": _group("md_alt", "literal"),
        "md_link": _group("md_ltext"),
        "md_footref": _drop,
        "md_reflink": _group("md_rtext"),
        "md_auto": _group("md_url", "literal"),
        "md_escape": _group("md_esc", "literal"),
        "md_break": _drop,
        "md_entity": _entity,
        "md_strike": _drop,
        "md_star": _drop,
        "md_under": _drop,
    },
)


def _role(m: re.Match[str]) -> tuple[str, str]:
    body = m.group("rs_rtext")
    titled = re.match(r"(?s)(.*?)\s*<[^<>]+>$", body)
    if titled and titled.group(1).strip():
        return ("text", titled.group(1))
    body = body.lstrip("!")
    name = m.group("rs_rname").split(":")[-1].lower()
    if name in ("pep", "rfc") and body.strip().isdigit():
        return ("text", f"{name.upper()} {body.strip()}")
    if body.startswith("~"):
        body = body[1:].rsplit(".", 1)[-1]
    return ("text", body)


RST = InlineRules(
    re.compile(
        r"(?P<rs_literal>``(?P<rs_lit>\S(?:.*?\S)?)``)"
        r"|(?P<rs_role>:(?P<rs_rname>[\w][\w:.+-]*):`(?P<rs_rtext>[^`]+)`)"
        r"|(?P<rs_trole>`(?P<rs_trtext>[^`]+)`:[\w][\w:.+-]*:)"
        r"|(?P<rs_link>`(?P<rs_ltext>[^`<]*?[^`<\s])\s*<[^<>`]+>`__?)"
        r"|(?P<rs_anon>`(?P<rs_atext>[^`]+)`__?)"
        r"|(?P<rs_interp>`(?P<rs_itext>[^`]+)`)"
        r"|(?P<rs_footref>\s?\[(?:#[\w.-]*|\*|\d+|[A-Za-z][\w.-]*)\]_)"
        r"|(?P<rs_strong>\*\*(?P<rs_stext>\S(?:.*?\S)?)\*\*)"
        r"|(?P<rs_em>(?<![\w*])\*(?P<rs_etext>[^\s*](?:[^*]*?[^\s*])?)\*(?![\w*]))"
        r"|(?P<rs_sub>\|(?P<rs_subtext>[^|\s](?:[^|]*[^|\s])?)\|(?:__?)?(?=\W|$))"
        r"|(?P<rs_ref>(?<=\w)__?(?=[\s.,;:!?)\]'\"]|$))"
        r"|(?P<rs_escape>\\(?P<rs_esc>[^\s]))"
        r"|(?P<rs_escspace>\\ )",
        re.DOTALL,
    ),
    {
        "rs_literal": _group("rs_lit", "literal"),
        "rs_role": _role,
        "rs_trole": _group("rs_trtext"),
        "rs_link": _group("rs_ltext"),
        "rs_anon": _group("rs_atext"),
        "rs_interp": _group("rs_itext"),
        "rs_footref": _drop,
        "rs_strong": _group("rs_stext"),
        "rs_em": _group("rs_etext"),
        "rs_sub": _group("rs_subtext"),
        "rs_ref": _drop,
        "rs_escape": _group("rs_esc", "literal"),
        "rs_escspace": _drop,
    },
)
