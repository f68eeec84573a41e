"""Numbered pagers for lists that are counted (Django pages) and for rankings that are not
(search results, known only up to a look-ahead)."""

from __future__ import annotations

from dataclasses import dataclass

from django.core.paginator import Page
from django.http import QueryDict

# Page numbers shown on each side of the current one, besides the first and the last.
WINDOW = 2


@dataclass(frozen=True)
class Pager:
    number: int
    last: int  # the highest page known to exist
    more: bool = False  # pages after `last` may exist (a ranking is not counted to its end)
    first: int = 1  # the position of the page's first item

    @classmethod
    def from_page(cls, page: Page) -> Pager:
        return cls(number=page.number, last=page.paginator.num_pages, first=page.start_index())

    @classmethod
    def for_ranking(cls, number: int, per_page: int, following: int, lookahead: int) -> Pager:
        """Page `number` of a ranking of which `following` results after it were counted,
        `lookahead` at most: more follow when the count reached the look-ahead."""
        last = number + -(-following // per_page)
        return cls(number, last, more=following >= lookahead > 0, first=(number - 1) * per_page + 1)

    @property
    def has_other_pages(self) -> bool:
        return self.last > 1 or self.number > 1

    @property
    def previous(self) -> int | None:
        return self.number - 1 if self.number > 1 else None

    @property
    def next(self) -> int | None:
        return self.number + 1 if self.number < self.last else None

    @property
    def numbers(self) -> list[int | None]:
        """The page numbers to link, None where a gap is: 1 … 4 5 [6] 7 8 … 380."""
        shown = {1, self.last, *range(self.number - WINDOW, self.number + WINDOW + 1)}
        pages = sorted(n for n in shown if 1 <= n <= self.last)
        numbers: list[int | None] = []
        for n in pages:
            if numbers and n - numbers[-1] > 1:
                numbers.append(None)
            numbers.append(n)
        return numbers


def query_without_page(params: QueryDict) -> str:
    """The query string of the other parameters, to which a pager link appends `page=N`."""
    rest = params.copy()
    rest.pop("page", None)
    encoded = rest.urlencode()
    return f"{encoded}&" if encoded else ""
