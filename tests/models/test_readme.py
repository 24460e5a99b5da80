from __future__ import annotations

from pathlib import Path

from models.table import markdown_table

README = Path(__file__).resolve().parents[2] / "README.md"


def test_readme_module_table_matches_the_registry() -> None:
    text = README.read_text()
    start = text.index("<!-- module-table:start -->") + len("<!-- module-table:start -->")
    end = text.index("<!-- module-table:end -->")
    assert text[start:end].strip() == markdown_table(), (
        "README's module table is stale: regenerate with `python -m models.table`")
