"""FinGPT Orchestrator: an LLM-driven trading assistant whose limits live in code."""

from __future__ import annotations

__version__ = "0.1.0"
