from tests.unit.parser_checks import assert_offsets, displays, load, unit_with

DOC = """==============
Build Settings
==============

:Author: A. Writer
:Version: 1.2

.. contents:: Table of Contents

Introduction
============

The build backend reads ``pyproject.toml`` and
honours the :ref:`isolation rules <isolation>` described in
`the guide <https://example.org/guide>`_ [#guide]_.

.. note:: Isolated builds install the declared
   requirements into a fresh environment.

.. versionadded:: 3.9
   The backend accepts an explicit path.

.. _isolation:
.. |tool| replace:: the build tool
.. this comment is not text

Settings
========

=========  ========  ===========
Key        Default   Meaning
=========  ========  ===========
isolated   true      Use a fresh environment.
verbose    false     Print every step.
=========  ========  ===========

Example::

    build --isolated

cache-dir
   Where downloaded requirements are kept
   between builds.

.. [#guide] The guide lives next to the source.
"""


def test_title_and_field_list_go_to_meta() -> None:
    doc, _ = load("build.rst", DOC)
    assert doc.title == "Build Settings"
    assert doc.meta["docinfo"] == {"author": "A. Writer", "version": "1.2"}
    assert doc.text == DOC


def test_no_unit_from_directive_markup_comments_targets_or_toc() -> None:
    doc, chunks = load("build.rst", DOC)
    assert_offsets(doc, chunks)
    shown = displays(chunks)
    joined = " ".join(shown)
    for markup in (":Author:", "..", "::", "replace", "comment", "Table of Contents", "|tool|"):
        assert markup not in joined, markup
    assert "Isolated builds install the declared requirements into a fresh environment." in shown
    assert "The backend accepts an explicit path." in shown
    assert doc.dropped["toc"] >= 0


def test_wrapped_paragraph_with_roles_rendered_and_exact() -> None:
    doc, chunks = load("build.rst", DOC)
    u = unit_with(chunks, "The build backend")
    assert u.display == (
        "The build backend reads pyproject.toml and honours the isolation rules described in"
        " the guide."
    )
    assert doc.text[u.start : u.end].startswith("The build backend reads ``pyproject.toml``")
    assert doc.text[u.start : u.end].endswith("[#guide]_.")


def test_simple_table_and_definition() -> None:
    doc, chunks = load("build.rst", DOC)
    rows = [u for c in chunks for u in c.units if u.kind == "row"]
    assert [r.display for r in rows] == [
        "isolated — Default: true · Meaning: Use a fresh environment.",
        "verbose — Default: false · Meaning: Print every step.",
    ]
    assert doc.text[rows[0].start : rows[0].end] == "isolated   true      Use a fresh environment."
    d = unit_with(chunks, "cache-dir")
    assert d.display == "cache-dir: Where downloaded requirements are kept between builds."
    assert doc.text[d.start : d.end].startswith("cache-dir\n   Where")
    assert not any("build --isolated" in s for s in displays(chunks))  # literal block: no unit
    assert next(c for c in chunks if rows[0] in c.units).heading == "Settings"


def test_pep_header_is_meta() -> None:
    text = (
        "PEP: 9999\nTitle: A Test Proposal\nAuthor: Someone\n\nAbstract\n========\n\n"
        "This is it.\n\nMotivation\n==========\n\nBecause.\n"
    )
    doc, chunks = load("pep-9999.rst", text)
    assert doc.title == "A Test Proposal"
    assert doc.meta["header"]["PEP"] == "9999"
    assert displays(chunks) == ["Abstract", "This is it.", "Motivation", "Because."]
