"""Numbered pagers (pure logic)."""

from __future__ import annotations

from django.http import QueryDict

from catalog.pagination import Pager, query_without_page


def test_numbers_show_the_ends_and_a_window_with_gaps() -> None:
    assert Pager(number=6, last=380).numbers == [1, None, 4, 5, 6, 7, 8, None, 380]
    assert Pager(number=1, last=3).numbers == [1, 2, 3]
    assert Pager(number=4, last=6).numbers == [1, 2, 3, 4, 5, 6]
    assert not Pager(number=1, last=1).has_other_pages


def test_a_ranking_is_numbered_as_far_as_it_was_counted() -> None:
    # Page 2 of 8 a page, 17 counted after it with a look-ahead of 17: pages 3, 4 and 5 exist, maybe more.
    pager = Pager.for_ranking(2, per_page=8, following=17, lookahead=17)
    assert (pager.last, pager.more, pager.first, pager.previous, pager.next) == (5, True, 9, 1, 3)
    end = Pager.for_ranking(4, per_page=8, following=0, lookahead=17)
    assert (end.last, end.more, end.next) == (4, False, None)


def test_page_parameters() -> None:
    assert query_without_page(QueryDict("q=cat&page=3&k=8")) == "q=cat&k=8&"
    assert query_without_page(QueryDict("page=3")) == ""
