"""Write the README's configuration table from `Settings` so the two never drift apart.

Usage: .venv/bin/python scripts/settings_table.py          (print the table)
       .venv/bin/python scripts/settings_table.py --write  (replace it in README.md)
tests/test_readme.py checks that every setting is listed with a description.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from pydantic_core import PydanticUndefined

from orchestrator.config import Settings

README = Path(__file__).resolve().parents[1] / "README.md"
START, END = "<!-- SETTINGS -->", "<!-- /SETTINGS -->"


def table() -> str:
    lines = ["| variable | default | what it does |", "|---|---|---|"]
    for name, field in Settings.model_fields.items():
        if field.default_factory is not None:
            default = ",".join(map(str, field.default_factory())) or "(empty)"  # type: ignore[call-arg]
        elif field.default is PydanticUndefined or field.default is None:
            default = "unset"
        else:
            default = str(field.default)
        if len(default) > 40:
            default = default[:37] + "..."
        description = (field.description or "").replace("|", "\\|")
        lines.append(f"| `{name.upper()}` | `{default}` | {description} |")
    return "\n".join(lines)


def main() -> None:
    if "--write" not in sys.argv:
        print(table())
        return
    text = README.read_text()
    if END not in text:
        text = text.replace(START, f"{START}\n{END}")
    pattern = re.compile(re.escape(START) + ".*?" + re.escape(END), re.DOTALL)
    README.write_text(pattern.sub(lambda _: f"{START}\n{table()}\n{END}", text))


if __name__ == "__main__":
    main()
