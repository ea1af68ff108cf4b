"""Replies in the styles real models write, and wrong claims cited to real passages.

Shared by the unit tests (passages cut from the bundled corpus) and the integration tests
(the same replies served by loopback stand-ins speaking each provider's wire format, with
`{n}` resolved to the number of the passage holding `NEEDLE` in the request that was sent).
"""

from __future__ import annotations

from dataclasses import dataclass

QUESTION = "What is the median day rate for a freelance AI Engineer in the UK?"
# The passage the zoo's answers cite: it holds the £600/day median (and London's £725/day).
NEEDLE = "with a median of £600/day"
SENTENCE = (
    "Freelance and contract AI Engineer day rates in the UK typically range from £450 to £900 "
    "per day, with a median of £600/day."
)


@dataclass(frozen=True)
class ZooCase:
    name: str
    reply: str  # `{n}`: the passage holding NEEDLE; `{m}`: another passage
    verified: bool  # an answer ships (else an abstention)
    contains: tuple[str, ...] = ()  # in the shipped answer
    excludes: tuple[str, ...] = ()  # never in the shipped answer
    reason: str = "supported"  # the abstention's reason when not verified


ZOO: list[ZooCase] = [
    ZooCase(
        "marker after the full stop", "The median day rate is £600/day. [{n}]", True, ("£600",)
    ),
    ZooCase("marker before the full stop", "The median day rate is £600/day [{n}].", True),
    ZooCase(
        "grouped markers", "Freelance AI Engineers charge a median of £600/day [{n}, {m}].", True
    ),
    ZooCase("adjacent markers", "The median day rate is £600 per day [{m}][{n}].", True),
    ZooCase("lenticular brackets", "The median day rate is £600/day【{n}】.", True),
    ZooCase("lenticular with source tag", "The median rate is £600 a day 【{n}†source】.", True),
    ZooCase("(source n)", "The median freelance day rate is £600 (source {n}).", True),
    ZooCase("[Passage n]", "The median freelance day rate is £600 [Passage {n}].", True),
    ZooCase(
        "according to passage n",
        "According to passage {n}, the median day rate for freelance AI Engineers is £600.",
        True,
    ),
    ZooCase("passage n states", "Passage {n} states that the median day rate is £600/day.", True),
    ZooCase(
        "only a final Sources line",
        "The median day rate for a freelance AI Engineer in the UK is £600/day.\n\nSources: [{n}]",
        True,
        excludes=("Sources",),
    ),
    ZooCase(
        "Sources line in words",
        "Freelance AI Engineers in the UK charge a median of £600 per day.\n\n"
        "**Sources:** passage {n}",
        True,
        excludes=("Sources",),
    ),
    ZooCase(
        "QUOTES block",
        'The median day rate is £600/day [{n}].\nQUOTES:\n[{n}] "with a median of £600/day"',
        True,
        excludes=("QUOTES",),
    ),
    ZooCase(
        "curly quotes and odd whitespace",
        "The median day rate is £600/day [{n}].\n\nQuotes:\n[{n}] “with  a median\nof £600/day”",
        True,
    ),
    ZooCase(
        "quote with an ellipsis",
        "Freelance rates range from £450 to £900 per day, with a median of £600/day [{n}].\n"
        "QUOTES:\n[{n}] “day rates in the UK typically range from £450 … with a median of "
        "£600/day”",
        True,
        ("£450", "£600"),
    ),
    ZooCase(
        "a preamble",
        "Based on the provided passages, here's what I found:\n\n"
        "The median day rate for a freelance AI Engineer is £600/day [{n}].",
        True,
        excludes=("Based on",),
    ),
    ZooCase(
        "bullets",
        "- Median day rate: £600/day [{n}]\n- London-based contractors: around £725/day [{n}]",
        True,
        ("£600", "£725"),
    ),
    ZooCase(
        "numbered list, marker after the stop",
        "1. The UK median day rate is £600/day. [{n}]\n2. London contractors can expect "
        "around £725 per day. [{n}]",
        True,
        ("£600", "£725"),
    ),
    ZooCase("markdown bold", "**£600/day** is the median freelance day rate [{n}].", True),
    ZooCase(
        "line breaks, no full stops",
        "Median day rate: £600/day [{n}]\nTypical range: £450 to £900 per day [{n}]",
        True,
        ("£600", "£900"),
    ),
    ZooCase("leading marker", "[{n}] The median day rate is £600/day.", True),
    ZooCase("footnote marker", "The median day rate is £600/day.[^{n}]", True),
    ZooCase("spelled-out figure", "The median is six hundred pounds per day [{n}].", True),
    ZooCase("£k style elsewhere", "Day rates run from £0.45k to £0.9k, median £0.6k [{n}].", True),
    ZooCase(
        "JSON reply, our schema",
        '{"answer_found": true, "claims": [{"text": "The median day rate is £600/day.", '
        '"passages": [{n}], "quotes": ["with a median of £600/day"]}]}',
        True,
    ),
    ZooCase(
        "fenced JSON, improvised shape",
        '```json\n{"answer": "The median day rate is £600/day [{n}].", '
        '"citations": [{"passage": {n}, "quote": "with a median of £600/day"}]}\n```',
        True,
    ),
    ZooCase(
        "one right claim, one invented",
        "The median day rate is £600/day [{n}]. Senior contractors charge £1,400/day [{n}].",
        True,
        ("£600",),
        ("1,400",),
    ),
    ZooCase(
        "refusal in prose",
        "I'm sorry, but the provided passages don't contain that information.",
        False,
        reason="generator_abstained",
    ),
    ZooCase("sentinel", "NOT_IN_DOCUMENTS", False, reason="generator_abstained"),
    ZooCase("dressed sentinel", "**NOT_IN_DOCUMENTS.**", False, reason="generator_abstained"),
    ZooCase(
        "JSON refusal",
        '{"answer_found": false, "claims": []}',
        False,
        reason="generator_abstained",
    ),
    ZooCase(
        "nothing but a wrong figure",
        "The median day rate is £640/day [{n}].",
        False,
        reason="unsupported_claims",
        excludes=("640",),
    ),
]


@dataclass(frozen=True)
class WrongClaim:
    name: str
    question: str  # retrieves the passage holding `needle` (integration tests)
    needle: str  # text of the passage the claim cites as [{n}]
    reply: str
    wrong: str  # the wrong content: must never ship


SALARY_Q = "What is the median AI Engineer salary in the UK?"
SALARY = "The median AI Engineer salary in the UK is £72,000"
GAPS_Q = "What is the largest skills gap in the AI Engineer market?"
GAPS = "Production LLM Deployment & Optimisation — 58% demand vs 12% supply"
RAG = "RAG has become the default enterprise GenAI pattern"
RAG_Q = "Why is RAG architecture a skills gap?"
DEGREE = "degree is common but not required"
DEGREE_Q = "Is a degree required to become an AI Software Engineer?"
ROUTE = "From ML engineering: You understand the model layer deeply"
ROUTE_Q = "How long does it take to move from ML engineering to AI engineering?"

ADVERSARIAL: list[WrongClaim] = [
    WrongClaim("changed figure", SALARY_Q, SALARY, f"{SALARY[:-7]}£99,999 [{{n}}].", "99,999"),
    WrongClaim("changed figure, k", SALARY_Q, SALARY, "The UK median is £75k [{n}].", "75k"),
    WrongClaim(
        "changed magnitude",
        SALARY_Q,
        SALARY,
        "The UK median salary is £72 million [{n}].",
        "million",
    ),
    WrongClaim(
        "changed unit: per hour", QUESTION, NEEDLE, "The median is £600 per hour [{n}].", "hour"
    ),
    WrongClaim(
        "changed currency", QUESTION, NEEDLE, "The median day rate is $600/day [{n}].", "$600"
    ),
    WrongClaim(
        "changed unit: percent", SALARY_Q, SALARY, "The median salary rose 72% [{n}].", "72%"
    ),
    WrongClaim(
        "changed percentage",
        GAPS_Q,
        GAPS,
        "Production LLM Deployment has 58% demand vs 21% supply [{n}].",
        "21%",
    ),
    WrongClaim(
        "changed gap",
        GAPS_Q,
        GAPS,
        "Production LLM Deployment & Optimisation shows a 50-point gap [{n}].",
        "50-point",
    ),
    WrongClaim(
        "changed range end",
        QUESTION,
        NEEDLE,
        "Day rates range from £450 to £950 per day [{n}].",
        "£950",
    ),
    WrongClaim(
        "changed date",
        RAG_Q,
        RAG,
        "RAG has been mainstream since mid-2021 [{n}].",
        "2021",
    ),
    WrongClaim(
        "changed month",
        RAG_Q,
        RAG,
        "RAG became mainstream in March 2023 [{n}].",
        "March",
    ),
    WrongClaim(
        "changed name",
        RAG_Q,
        RAG,
        "Common vector stores include Milvus and Qdrant [{n}].",
        "Milvus",
    ),
    WrongClaim(
        "changed name in a list",
        SALARY_Q,
        SALARY,
        "The UK median AI Engineer salary is £72,000, set by Google [{n}].",
        "Google",
    ),
    WrongClaim(
        "added negation",
        QUESTION,
        NEEDLE,
        "London-based contractors cannot expect around £725/day [{n}].",
        "cannot",
    ),
    WrongClaim(
        "dropped negation",
        DEGREE_Q,
        DEGREE,
        "A computer science, maths or physics degree is required [{n}].",
        "is required",
    ),
    WrongClaim(
        "swapped subject: role",
        SALARY_Q,
        SALARY,
        "The median Data Scientist salary in the UK is £72,000 [{n}].",
        "Data Scientist",
    ),
    WrongClaim(
        "swapped subject: place",
        SALARY_Q,
        SALARY,
        "The median AI Engineer salary in the UK is £85,000 [{n}].",
        "£85,000",
    ),
    WrongClaim(
        "swapped subject: place, day rate",
        QUESTION,
        NEEDLE,
        "London-based contractors charge a median of £600/day [{n}].",
        "London-based contractors charge",
    ),
    WrongClaim(
        "figure from another passage",
        SALARY_Q,
        SALARY,
        "The median AI Engineer salary in the UK is £78,000 [{n}].",
        "£78,000",
    ),
    WrongClaim(
        "figure from another passage, day rate",
        QUESTION,
        NEEDLE,
        "London-based AI Engineer contractors can expect around £750/day [{n}].",
        "£750",
    ),
    WrongClaim(
        "changed duration",
        ROUTE_Q,
        ROUTE,
        "Moving from ML engineering takes 6–12 months [{n}].",
        "6–12",
    ),
    WrongClaim(
        "spelled-out wrong figure",
        SALARY_Q,
        SALARY,
        "The UK median salary is seventy-five thousand pounds [{n}].",
        "seventy-five",
    ),
    WrongClaim(
        "true quote, wrong figure",
        QUESTION,
        NEEDLE,
        'The median day rate is £650/day [{n}].\nQUOTES:\n[{n}] "with a median of £600/day"',
        "£650",
    ),
    WrongClaim(
        "wrong figure after a prose marker",
        "How many years of recruitment experience does the author have?",
        "12+ years in recruitment",
        "According to passage {n}, 19+ years.",
        "19+",
    ),
    WrongClaim(
        "cites a passage never offered",
        QUESTION,
        NEEDLE,
        "The median day rate is £600/day [17].",
        "£600",
    ),
]
