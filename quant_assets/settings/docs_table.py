"""The docs' settings table (docs/settings.md), generated from the model's groups.

``python -m quant_assets.settings`` rewrites the table with ``write_docs``; a test compares
it with ``table()``.
"""

from __future__ import annotations

from quant_assets.settings.groups import GROUPS
from quant_assets.settings.layout import REPO_ROOT


def table() -> str:
    """The docs' settings table (docs/settings.md), generated from the model."""
    rows = ["| variable | default | what |", "|---|---|---|"]
    for group in GROUPS:
        for var in (*group.variables().values(), *group.elsewhere):
            rows.append(f"| `{var.name}` | {var.default_text()} | {var.what} |")
    return "\n".join(rows) + "\n"


DOCS = REPO_ROOT / "docs" / "settings.md"


def table_in_docs(text: str) -> str:
    """The table of docs/settings.md's text: from its header row to the first line not a row."""
    lines = text.splitlines(keepends=True)
    first = next(i for i, line in enumerate(lines) if line.startswith("| variable |"))
    last = next((i for i in range(first, len(lines)) if not lines[i].startswith("|")), len(lines))
    return "".join(lines[first:last])


def write_docs() -> bool:
    """Replace docs/settings.md's table with ``table()``, keeping its prose; whether it changed."""
    text = DOCS.read_text()
    new = text.replace(table_in_docs(text), table(), 1)
    if new != text:
        DOCS.write_text(new)
    return new != text
