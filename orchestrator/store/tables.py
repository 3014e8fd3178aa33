"""Imports every table module in this package so the metadata (and Alembic) sees them all.

A table module is any module here that is not infrastructure; adding one needs no edit here.
"""

from __future__ import annotations

import importlib
import pkgutil
from pathlib import Path

_INFRASTRUCTURE = {"base", "db", "tables", "migrations"}

for _module in pkgutil.iter_modules([str(Path(__file__).parent)]):
    if _module.name not in _INFRASTRUCTURE and not _module.name.startswith("_"):
        importlib.import_module(f"orchestrator.store.{_module.name}")
