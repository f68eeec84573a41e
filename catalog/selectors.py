"""Reads of the catalogue."""

from __future__ import annotations

from django.core.paginator import Page, Paginator
from django.db.models import Count, Q, QuerySet

from catalog.models import Category, Image

PAGE_SIZE = 24


HOME_CATEGORIES = 12


def categories_with_counts(search: str = "") -> QuerySet[Category]:
    """Categories with ready items, the most populous first; `search` filters by name."""
    categories = Category.objects.annotate(
        item_count=Count("images", filter=Q(images__status=Image.Status.READY))
    ).filter(item_count__gt=0)
    if search:
        categories = categories.filter(name__icontains=search)
    return categories.order_by("-item_count", "name")


def visible_images(*, category: Category | None = None) -> QuerySet[Image]:
    """What visitors see: items that finished processing."""
    images = Image.objects.filter(status=Image.Status.READY).select_related("category")
    return images.filter(category=category) if category else images


def catalogue_page(*, category: Category | None, page: int | str | None) -> Page:
    return Paginator(visible_images(category=category), PAGE_SIZE).get_page(page)
