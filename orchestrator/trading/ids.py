"""Identifiers: deterministic client order ids and short approval ids."""

from __future__ import annotations

import re
import secrets

from orchestrator.domain import Side

# No 0/O, 1/I/L: an approval id is read off a phone screen and typed back.
APPROVAL_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
APPROVAL_ID_LENGTH = 6  # 31**6 ~ 887 million: collisions among pending approvals are negligible

_APPROVAL_ID = re.compile(f"^[{APPROVAL_ALPHABET}]{{{APPROVAL_ID_LENGTH}}}$")


def client_order_id(
    namespace: str, cycle_id: int | None, symbol: str, side: Side, *, ref: str = ""
) -> str:
    """The one client order id for (cycle, symbol, side) in this database.

    The same inputs always give the same id, so submitting the same decision twice is refused by
    the broker (and by the unique `order.client_order_id`) instead of creating a second order.
    Outside a cycle (a chat proposal), `ref` (the proposal id) takes the cycle's place.
    `namespace` is random per database, so a reset database never reuses an id at the broker.
    """
    scope = f"c{cycle_id}" if cycle_id is not None else f"p{ref}"
    return f"fg-{namespace}-{scope}-{symbol.upper()}-{side.value}"


def new_approval_id() -> str:
    return "".join(secrets.choice(APPROVAL_ALPHABET) for _ in range(APPROVAL_ID_LENGTH))


def normalize_approval_id(text: str) -> str | None:
    """The canonical approval id typed by a person (case and spaces ignored), or None if invalid."""
    candidate = text.strip().upper()
    return candidate if _APPROVAL_ID.match(candidate) else None
