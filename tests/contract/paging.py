"""Following a listing's cursors to its end, as a caller of the store port does."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from core.models import Execution, Page

ListPage = Callable[[int, str | None], Awaitable[Page[Execution]]]
"""(limit, cursor) -> the next page."""
MAX_PAGES = 100


async def every_id(list_page: ListPage, limit: int) -> list[str]:
    """Every execution id the listing yields in pages of at most `limit`, following cursors to
    the end (bounded: a listing that keeps giving cursors fails the test)."""
    ids: list[str] = []
    cursor = None
    for _ in range(MAX_PAGES):
        page = await list_page(limit, cursor)
        assert len(page.items) <= limit
        ids += [execution.execution_id for execution in page.items]
        if page.next_cursor is None:
            return ids
        cursor = page.next_cursor
    raise AssertionError("the listing kept giving cursors")
