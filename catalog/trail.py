"""The results a visitor last saw (a search, more like this, a catalogue page), kept in their
session so that an item page can step to the previous and next of them and link back."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

SESSION_KEY = "result_trail"
MAX_ITEMS = 100  # a page of results at most (SEARCH_MAX_K)


@dataclass(frozen=True)
class Step:
    previous: int | None
    next: int | None
    position: int  # 1-based, within the results seen
    count: int
    back: str  # the address of those results


def remember(session, ids: Iterable[int], url: str) -> None:
    """Keep the item ids shown at `url`, in the order shown; written only when they change."""
    trail = {"ids": list(ids)[:MAX_ITEMS], "url": url}
    if trail["ids"] and session.get(SESSION_KEY) != trail:
        session[SESSION_KEY] = trail


def step(session, pk: int) -> Step | None:
    """Where item `pk` stands in the results last seen; None when it was not among them."""
    trail = session.get(SESSION_KEY) or {}
    ids = trail.get("ids") or []
    if pk not in ids:
        return None
    at = ids.index(pk)
    return Step(
        previous=ids[at - 1] if at > 0 else None,
        next=ids[at + 1] if at + 1 < len(ids) else None,
        position=at + 1,
        count=len(ids),
        back=trail.get("url", ""),
    )
