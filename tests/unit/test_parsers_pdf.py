import pytest
from fpdf import FPDF
from fpdf.enums import EncryptionMethod

from rag_service.core.errors import DocumentError
from tests.unit.parser_checks import assert_offsets, displays, load, unit_with

FOOTER = "Copyright © 2026 Example Research. All rights reserved."
PARAGRAPH = (
    "Median pay for engineers rose by eight percent in the last year, with the largest gains in "
    "infrastructure roles and the smallest in research positions across all regions surveyed."
)


def _report(*, title: str = "PowerPoint Presentation", user_password: str | None = None) -> bytes:
    pdf = FPDF()
    pdf.set_title(title)
    pdf.set_auto_page_break(False)
    if user_password is not None:
        pdf.set_encryption(
            owner_password="owner-secret",
            user_password=user_password,
            encryption_method=EncryptionMethod.AES_128,
        )
    for page in (1, 2):
        pdf.add_page()
        if page == 1:
            pdf.set_font("helvetica", "B", 24)
            pdf.cell(0, 14, "Salary Survey 2026", new_x="LMARGIN", new_y="NEXT")
            pdf.set_font("helvetica", size=11)
            pdf.multi_cell(100, 6, PARAGRAPH)  # wrapped over several lines
            pdf.ln(6)
            pdf.cell(0, 8, "$50,000", new_x="LMARGIN", new_y="NEXT")  # chart residue
        else:
            pdf.set_font("helvetica", "B", 16)
            pdf.cell(0, 10, "Pay by sector", new_x="LMARGIN", new_y="NEXT")
            pdf.set_font("helvetica", size=11)
            with pdf.table(col_widths=(50, 40, 40)) as table:
                for row in (
                    ("Sector", "Median", "Top decile"),
                    ("Finance", "$120,000", "$210,000"),
                    ("Retail", "$80,000", "$130,000"),
                ):
                    cells = table.row()
                    for value in row:
                        cells.cell(value)
        pdf.set_y(-15)
        pdf.set_font("helvetica", size=8)
        pdf.cell(0, 8, f"{FOOTER} {page + 12}")
    return bytes(pdf.output())


def test_repeated_footer_residue_and_generic_title() -> None:
    doc, chunks = load("survey.pdf", _report())
    assert_offsets(doc, chunks)
    assert "Copyright" not in doc.text and doc.dropped["furniture"] == 2
    assert "$50,000" not in " ".join(displays(chunks))
    assert doc.title == "Salary Survey 2026"  # "PowerPoint Presentation" says nothing
    assert doc.meta["title_source"] == "first_page"
    assert doc.meta["metadata_title"] == "PowerPoint Presentation"


def test_wrapped_lines_join_into_one_paragraph() -> None:
    doc, chunks = load("survey.pdf", _report())
    u = unit_with(chunks, "Median pay for engineers")
    assert u.display == PARAGRAPH
    assert " ".join(doc.text[u.start : u.end].split()) == PARAGRAPH


def test_table_rows_read_against_their_header() -> None:
    doc, chunks = load("survey.pdf", _report())
    rows = [u for c in chunks for u in c.units if u.kind == "row"]
    assert [r.display for r in rows] == [
        "Finance — Median: $120,000 · Top decile: $210,000",
        "Retail — Median: $80,000 · Top decile: $130,000",
    ]
    assert doc.text[rows[0].start : rows[0].end] == "Finance | $120,000 | $210,000"
    assert next(c for c in chunks if rows[0] in c.units).heading == "Pay by sector"


def test_encrypted_with_empty_user_password_is_read() -> None:
    doc, chunks = load("locked.pdf", _report(title="Pay Report", user_password=""))
    assert doc.title == "Pay Report"
    assert unit_with(chunks, "Median pay for engineers")


def test_a_real_password_is_a_clear_error() -> None:
    with pytest.raises(DocumentError) as info:
        load("locked.pdf", _report(user_password="secret"))
    assert "password" in info.value.message


def test_ligatures_listed_once_per_letter_are_read_once() -> None:
    from ingestion.parsers.pdf import _chars_text, _fix_text, _segments

    def char(text: str, x0: float) -> dict:
        return {"text": text, "x0": x0, "x1": x0 + 5, "size": 10.0}

    chars = [char("o", 0), char("ﬃ", 5), char("ﬃ", 5), char("ﬃ", 5), char("c", 10),
             char("e", 15), char("N", 60), char("o", 65)]  # fmt: skip
    segments = _segments(chars)
    assert [_fix_text(_chars_text(s)) for s in segments] == ["office", "No"]  # a wide gap splits


def _ruled_between_groups() -> bytes:
    """A LaTeX-style table: rules above and below, one rule under the header, a rule between
    the label column and the figures, no rule between the figure columns."""
    pdf = FPDF()
    pdf.add_page()
    pdf.set_font("helvetica", size=11)
    pdf.set_xy(20, 20)
    pdf.multi_cell(0, 6, "Fitted models compared on the same data.")
    rows = (
        ("Model", "pois", "nbin", "hurdle"),
        ("Parameters", "8", "9", "15"),
        ("Log-likelihood", "-17971.6", "-12170.6", "-12090.1"),
        ("AIC", "35959.2", "24359.1", "24210.1"),
    )
    top, x0, split, x1 = 40.0, 20.0, 60.0, 150.0
    for k, row in enumerate(rows):
        y = top + 2 + 7 * k
        pdf.set_xy(x0 + 1, y)
        pdf.cell(38, 6, row[0])
        for j, value in enumerate(row[1:]):
            pdf.set_xy(split + 2 + 30 * j, y)
            pdf.cell(28, 6, value)
    bottom = top + 2 + 7 * len(rows)
    for y in (top, top + 8.5, bottom):
        pdf.line(x0, y, x1, y)
    pdf.line(x0, top, x0, bottom)
    pdf.line(split, top, split, bottom)
    pdf.line(x1, top, x1, bottom)
    return bytes(pdf.output())


def test_stacked_cells_of_a_table_ruled_between_groups_are_read_by_column() -> None:
    doc, chunks = load("models.pdf", _ruled_between_groups())
    assert_offsets(doc, chunks)
    rows = [u.display for c in chunks for u in c.units if u.kind == "row"]
    assert "Log-likelihood — pois: -17971.6 · nbin: -12170.6 · hurdle: -12090.1" in rows
    assert "AIC — pois: 35959.2 · nbin: 24359.1 · hurdle: 24210.1" in rows


def test_a_line_of_prose_ending_in_a_monospaced_url_stays_in_its_paragraph() -> None:
    pdf = FPDF()
    pdf.add_page()
    pdf.set_font("helvetica", size=11)
    pdf.set_xy(20, 30)
    pdf.cell(0, 6, "Yee TW (2008). VGAM: Vector Generalized Linear and Additive Models. R package")
    pdf.set_xy(24, 36)
    pdf.write(6, "version 0.7-7, URL ")
    pdf.set_font("courier", size=11)
    pdf.write(6, "http://cran.example.org/package=VGAM.")
    doc, chunks = load("refs.pdf", bytes(pdf.output()))
    assert_offsets(doc, chunks)
    assert [u.display for c in chunks for u in c.units] == [
        "Yee TW (2008). VGAM: Vector Generalized Linear and Additive Models. R package version"
        " 0.7-7, URL http://cran.example.org/package=VGAM."
    ]


def test_a_slides_short_lines_are_items_alone_or_stacked() -> None:
    pdf = FPDF(orientation="landscape")
    pdf.add_page()
    pdf.set_font("helvetica", "B", 24)
    pdf.set_xy(20, 15)
    pdf.cell(0, 12, "Plugins")
    pdf.set_font("helvetica", size=16)
    for k, name in enumerate(("bacula (server)", "couchpotato", "gamez", "maraschino")):
        pdf.set_xy(20, 40 + 8 * k)
        pdf.cell(0, 8, name)
    pdf.set_xy(20, 110)
    pdf.cell(0, 8, "Runs on FreeBSD")
    doc, chunks = load("deck.pdf", bytes(pdf.output()))
    assert_offsets(doc, chunks)
    units = [(u.kind, u.display) for c in chunks for u in c.units if u.kind != "heading"]
    assert units == [
        ("item", "bacula (server)"),
        ("item", "couchpotato"),
        ("item", "gamez"),
        ("item", "maraschino"),
        ("item", "Runs on FreeBSD"),
    ]
