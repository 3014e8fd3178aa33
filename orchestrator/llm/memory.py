"""Per-chat conversation memory in the database (`chat_message`), trimmed to fit the context.

Only questions and final answers are kept (tool traffic is in the call log): they carry the
conversation, and stay small. `load_history` returns the newest turns whose tokens fit within
the given share of `LLM_CONTEXT_TOKENS`. Blocking database work runs in a thread.
"""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy.engine import Engine

from orchestrator.llm.accounting import TOKENS_PER_MESSAGE, count_text_tokens
from orchestrator.store.db import session_scope
from orchestrator.store.llm import add_chat_turn, clear_chat, recent_chat_turns

# Memory may use up to half the context window; the rest is for the system prompt, tool schemas,
# tool results of this turn, and the answer.
MEMORY_SHARE_OF_CONTEXT = 0.5


async def load_history(
    engine: Engine, chat_id: str, *, context_tokens: int
) -> list[dict[str, Any]]:
    budget = int(context_tokens * MEMORY_SHARE_OF_CONTEXT)

    def read() -> list[dict[str, Any]]:
        with session_scope(engine) as session:
            turns = recent_chat_turns(session, chat_id, max_tokens=budget)
        return [{"role": turn.role, "content": turn.content} for turn in turns]

    return await asyncio.to_thread(read)


async def save_exchange(engine: Engine, chat_id: str, question: str, answer: str) -> None:
    def write() -> None:
        with session_scope(engine) as session:
            for role, text in (("user", question), ("assistant", answer)):
                tokens = count_text_tokens(text) + TOKENS_PER_MESSAGE
                add_chat_turn(session, chat_id, role, text, tokens)

    await asyncio.to_thread(write)


async def forget(engine: Engine, chat_id: str) -> int:
    def delete() -> int:
        with session_scope(engine) as session:
            return clear_chat(session, chat_id)

    return await asyncio.to_thread(delete)
