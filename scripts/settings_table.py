"""Print the README's configuration table from `Settings` so the two never drift apart.

Usage: .venv/bin/python scripts/settings_table.py
(tests/test_readme.py checks that every setting is listed.)
"""

from __future__ import annotations

from pydantic_core import PydanticUndefined

from orchestrator.config import Settings


def main() -> None:
    print("| variable | default | what it does |")
    print("|---|---|---|")
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
        print(f"| `{name.upper()}` | `{default}` | {description} |")


if __name__ == "__main__":
    main()
