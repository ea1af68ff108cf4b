import pytest

from ingestion.loaders import load_document
from rag_service.core.errors import DocumentError, PayloadTooLarge, UnsupportedMediaType

LIMIT = 1_000_000


def test_text_and_markdown() -> None:
    doc = load_document("notes.md", b"# Day rates\r\nMedian \xc2\xa3600/day.\r\n", max_bytes=LIMIT)
    assert doc.title == "Day rates"
    assert doc.text == "# Day rates\nMedian £600/day.\n"
    assert doc.meta["format"] == "markdown"
    plain = load_document("a-b_c.txt", b"hello there", max_bytes=LIMIT)
    assert plain.title == "a b c"
    assert plain.meta["title_source"] == "filename"


def test_html_drops_scripts_and_keeps_blocks() -> None:
    html = (
        b"<html><head><title>Rates</title><script>var x=1;</script></head><body>"
        b"<h1>Day rates</h1><p>Median &pound;600/day.</p><ul><li>One</li><li>Two</li></ul>"
        b"</body></html>"
    )
    doc = load_document("r.html", html, max_bytes=LIMIT)
    assert doc.title == "Day rates"  # the page's h1 before <title>
    assert doc.text.split("\n") == ["Day rates", "", "Median £600/day.", "", "One", "Two"]


def test_pdf_text_is_extracted() -> None:
    from fpdf import FPDF

    pdf = FPDF()
    pdf.add_page()
    pdf.set_font("helvetica", size=12)
    pdf.cell(text="The median day rate is 600 pounds.")
    pdf.set_title("Rates report")
    doc = load_document("rates.pdf", bytes(pdf.output()), max_bytes=LIMIT)
    assert "median day rate is 600" in doc.text
    assert doc.title == "Rates report"
    assert doc.meta["title_generic"] is False


@pytest.mark.parametrize(
    ("title", "generic"),
    [
        ("PowerPoint Presentation", True),
        ("Microsoft Word - report_v2.docx", True),
        ("untitled", True),
        ("slides_final.pptx", True),
        ("UK Salary Survey 2026", False),
    ],
)
def test_generic_titles(title: str, generic: bool) -> None:
    from ingestion.parsers.types import is_generic_title

    assert is_generic_title(title) is generic


@pytest.mark.parametrize(
    ("name", "data", "error", "message"),
    [
        ("empty.txt", b"  \n\n ", DocumentError, "empty"),
        ("bin.txt", b"\x00\x01\x02garbage" * 10, DocumentError, "binary"),
        ("latin.txt", b"caf\xe9 \xff\xfe", DocumentError, "UTF-8"),
        ("broken.pdf", b"%PDF-1.4 not really a pdf", DocumentError, "PDF"),
        ("image.png", b"\x89PNG", UnsupportedMediaType, "unsupported"),
        ("big.txt", b"a" * (LIMIT + 1), PayloadTooLarge, "limit"),
    ],
)
def test_bad_files_get_one_line_reasons(name, data, error, message) -> None:
    with pytest.raises(error) as info:
        load_document(name, data, max_bytes=LIMIT)
    assert message in info.value.message
    assert "\n" not in info.value.message


def test_rag_ingest_report_needs_no_database(tmp_path) -> None:
    from typer.testing import CliRunner

    from ingestion.cli import app

    docs = tmp_path / "docs"  # keys carry the folder's name: docs/guide.md
    docs.mkdir()
    (docs / "guide.md").write_text(
        "---\ntitle: Guide\n---\n# Guide\n\nThe limit is ten requests a second.\n\n"
        "wrapped continuation of a line that\n"
    )
    (docs / "broken.pdf").write_bytes(b"%PDF-1.4 not really a pdf")
    result = CliRunner().invoke(app, ["--report", str(docs)])
    assert result.exit_code == 1  # one file could not be read
    out = result.output
    assert "guide.md" in out and "markdown" in out and "broken.pdf" in out
    assert "fragment" in out and "total" in out
