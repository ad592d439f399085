"""The configuration reference in docs/reference is generated from the models and kept current."""

from pathlib import Path

from connect_core.config.reference import pages

DOCS = Path(__file__).resolve().parents[2] / "docs" / "reference"


def test_committed_reference_matches_the_models():
    stale = [name for name, text in pages().items()
             if not (DOCS / name).exists() or (DOCS / name).read_text() != text]
    assert not stale, (f"docs/reference is out of date for {stale}: run "
                       "`python -m connect_core.config.reference docs/reference`")


def test_every_builtin_connector_has_a_page_listing_its_own_options():
    generated = pages()
    assert "`partitions`" in generated["datagen-source.md"]
    assert "`path`" in generated["file-sink.md"]
    assert "| `max_tasks`" not in generated["file-sink.md"]  # common options live on common.md
    assert "| `max_tasks`" in generated["common.md"]
