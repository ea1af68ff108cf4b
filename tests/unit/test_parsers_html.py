from tests.unit.parser_checks import assert_offsets, displays, load, unit_with

PAGE = b"""<!doctype html>
<html lang="en"><head>
<meta charset="utf-8">
<title>Careers | Example Site</title>
<meta property="og:title" content="Role guide">
<script>var tracking = 1;</script><style>p {color: red}</style>
</head><body>
<a class="skip-link" href="#main">Skip to content</a>
<header class="site-header"><a href="/">Example Site</a>
  <nav><ul><li><a href="/a">Machine Learning Engineer</a></li>
  <li><a href="/b">Data Scientist</a></li>
  <li><a href="/c">AI Engineer</a></li></ul></nav></header>
<div id="cookie-banner">We use cookies to improve your experience. <button>Accept</button></div>
<main>
  <h1>Machine
      Learning Engineer</h1>
  <p>A Machine
     Learning Engineer builds and
     ships models that run in production.</p>
  <h2>Levels</h2>
  <table>
    <thead><tr><th>Level</th><th>Base</th><th>Bonus</th></tr></thead>
    <tbody><tr><td>L3</td><td>131,000</td><td>10%</td></tr>
           <tr><td>L4</td><td>160,000</td><td>15%</td></tr></tbody>
  </table>
  <ul><li>Ships models.</li><li>Reviews <em>evaluation</em> results.</li></ul>
</main>
<aside>Related roles: Data Scientist</aside>
<footer>Copyright 2026 Example Site. All rights reserved.</footer>
</body></html>
"""


def test_title_from_main_h1_not_title_tag() -> None:
    doc, _ = load("role.html", PAGE)
    assert doc.title == "Machine Learning Engineer"
    assert doc.meta["title_source"] == "h1"


def test_boilerplate_is_not_in_the_text() -> None:
    doc, chunks = load("role.html", PAGE)
    for junk in ("Skip to content", "Data Scientist", "cookies", "Copyright", "tracking", "color"):
        assert junk not in doc.text, junk
    assert doc.dropped["nav"] > 0
    assert_offsets(doc, chunks)


def test_text_nodes_collapse_like_a_browser() -> None:
    doc, chunks = load("role.html", PAGE)
    u = unit_with(chunks, "builds and ships")
    assert (
        u.display == "A Machine Learning Engineer builds and ships models that run in production."
    )
    assert doc.text[u.start : u.end] == u.display
    assert "Machine Learning Engineer" not in displays(chunks)  # the h1 is the title


def test_table_rows_and_list_items() -> None:
    doc, chunks = load("role.html", PAGE)
    rows = [u for c in chunks for u in c.units if u.kind == "row"]
    assert [r.display for r in rows] == [
        "L3 — Base: 131,000 · Bonus: 10%",
        "L4 — Base: 160,000 · Bonus: 15%",
    ]
    assert doc.text[rows[0].start : rows[0].end] == "L3 | 131,000 | 10%"
    assert next(c for c in chunks if rows[0] in c.units).heading == "Levels"
    items = [u.display for c in chunks for u in c.units if u.kind == "item"]
    assert items == ["Ships models.", "Reviews evaluation results."]


def test_og_title_when_no_h1() -> None:
    doc, _ = load(
        "x.html",
        b"<html><head><title>Site</title><meta property='og:title' "
        b"content='Guide'></head><body><p>Some text here.</p></body></html>",
    )
    assert doc.title == "Guide"
