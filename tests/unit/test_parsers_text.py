from ingestion.parsers.text import parse_text
from tests.unit.parser_checks import assert_offsets, displays, load, unit_with

BODY = """\
   The quick summary of this memo explains how servers answer requests
   that arrive without the conditions they require, and what clients
   should do when they see such an answer from an origin server.
"""

RFC = (
    "Network Working Group                                      A. Author\n"
    "Request for Comments: 9999                                 Example Org\n"
    "Category: Standards Track                                  April 2012\n"
    "\n"
    "                 Additional Status Codes for Testing\n"
    "\n"
    "Table of Contents\n"
    "\n"
    "   1. Introduction ....................................................2\n"
    "   2. Status Codes ....................................................2\n"
    "\n"
    "1.  Introduction\n"
    "\n" + BODY + "\n"
    "   Another paragraph here states that the limit is enforced by each\n"
    "   server separately.\n"
    "\n"
    "Author                       Standards Track                    [Page 1]\n"
    "\f\n"
    "RFC 9999            Additional Status Codes for Testing          April 2012\n"
    "\n"
    "2.  Status Codes\n"
    "\n"
    "   status-line\n"
    "      The first line of a response, holding the protocol version, a\n"
    "      numeric status code and its textual reason phrase.\n"
    "\n"
    "   The server MUST NOT send the code to a client that did not ask\n"
    "   for it in its request.\n"
    "\n"
    "   Code   Meaning               Since\n"
    "   ----   -------------------   -----\n"
    "   428    Precondition needed   2012\n"
    "   429    Too many requests     2012\n"
    "\n"
    "Author                       Standards Track                    [Page 2]\n"
    "\f\n"
    "RFC 9999            Additional Status Codes for Testing          April 2012\n"
    "\n"
    "3.  Security Considerations\n"
    "\n"
    "   Servers should take care when sending these codes to clients that\n"
    "   are not trusted by them.\n"
)


def test_running_headers_footers_toc_and_form_feeds_are_left_out() -> None:
    doc, chunks = load("rfc9999.txt", RFC)
    assert doc.text == RFC
    assert_offsets(doc, chunks)
    shown = " ".join(displays(chunks))
    for junk in ("[Page", "RFC 9999", "....", "Table of Contents", "\f"):
        assert junk not in shown, junk
    assert doc.dropped["furniture"] >= 4 and doc.dropped["toc"] >= 3
    assert doc.meta["wrapped"] is True


def test_wrapped_lines_join_into_paragraphs_and_sentences() -> None:
    doc, chunks = load("rfc9999.txt", RFC)
    u = unit_with(chunks, "The quick summary")
    assert u.display.endswith("from an origin server.")
    assert doc.text[u.start : u.end] == BODY.strip()
    heading = next(c for c in chunks if u in c.units).heading
    assert heading == "1. Introduction"


def test_a_line_ending_on_a_comma_continues_even_when_wrapped_short() -> None:
    """Hand-wrapped text breaks lines early: a comma never ends a paragraph."""
    text = (
        "Setting up the drive\n"
        "====================\n\n"
        "    In some cases you might want to use a different drive interface,\n"
        "    for example if the audio tracks do not play at all.\n\n"
        + "    Padding prose that fills the page to its usual width of about eighty cols.\n"
        * 6
    )
    doc, chunks = load("manual.txt", text)
    u = unit_with(chunks, "In some cases")
    assert u.display == (
        "In some cases you might want to use a different drive interface, "
        "for example if the audio tracks do not play at all."
    )
    assert_offsets(doc, chunks)


def test_hanging_indent_definition_kept_whole() -> None:
    doc, chunks = load("rfc9999.txt", RFC)
    u = unit_with(chunks, "status-line")
    assert u.kind == "item"
    assert u.display == (
        "status-line: The first line of a response, holding the protocol version, a numeric"
        " status code and its textual reason phrase."
    )
    assert doc.text[u.start : u.end].endswith("reason phrase.")


def test_aligned_table_rows_read_against_header() -> None:
    doc, chunks = load("rfc9999.txt", RFC)
    rows = [u for c in chunks for u in c.units if u.kind == "row"]
    assert [r.display for r in rows] == [
        "428 — Meaning: Precondition needed · Since: 2012",
        "429 — Meaning: Too many requests · Since: 2012",
    ]
    assert doc.text[rows[0].start : rows[0].end] == "428    Precondition needed   2012"


def test_one_line_paragraphs_with_headings_and_bullets() -> None:
    text = (
        "Core Skills\n"
        "Python matters a lot here because every team writes it daily.\n"
        "  • First skill listed\n"
        "  • Second skill listed\n"
    )
    doc = parse_text(text)
    assert [b.kind for b in doc.blocks] == ["heading", "paragraph", "item", "item"]
    assert doc.blocks[2].display == "First skill listed"


def test_flattened_table_is_generic() -> None:
    text = "Prices by region\nRegionStandardPremium\nNorth€12-15€20\nSouth¥300¥450\n"
    doc = parse_text(text)
    rows = [b.display for b in doc.blocks if b.kind == "row"]
    assert rows == [
        "North — Standard: €12-15 · Premium: €20",
        "South — Standard: ¥300 · Premium: ¥450",
    ]


GRAMMAR = """\
   This memo defines a syntax for timestamps used by many protocols on the
   Internet, and it cites [ISO8601] and [RFC2119] for the terms it uses; a
   value such as "=" may appear in prose without making the prose code.

   The grammar below is normative and every implementation must accept it
   exactly as written, including the optional fractional seconds part.

      date-fullyear   = 4DIGIT
      date-month      = 2DIGIT  ; 01-12
      date-mday       = 2DIGIT  ; 01-31

   An example of a timestamp with an offset is shown below this paragraph
   so that readers can compare it with the grammar given above in full.

      1996-12-19T16:39:57-08:00
"""


def test_grammar_is_code_prose_with_citations_is_not() -> None:
    doc, chunks = load("memo.txt", GRAMMAR)
    kinds = [(b.kind, b.display[:20]) for b in doc.blocks]
    assert ("code", "date-fullyear = 4DIG") in kinds
    shown = displays(chunks)
    assert any(s.startswith("This memo defines a syntax") for s in shown)
    assert "1996-12-19T16:39:57-08:00" in shown  # an example value stays an answer
    assert not any("4DIGIT" in s for s in shown)
