"""Reads of the catalogue."""

from __future__ import annotations

from datetime import datetime

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


def images_visible_to(user) -> QuerySet[Image]:
    """Single items as a user may open them: staff see every state (and the error text), visitors
    only ready items."""
    images = Image.objects.select_related("category")
    return images if getattr(user, "is_staff", False) else images.filter(status=Image.Status.READY)


# --- Operations ---------------------------------------------------------------------------


def status_counts() -> dict[str, int]:
    counts = dict(Image.objects.values_list("status").annotate(n=Count("pk")).order_by())
    return {status: counts.get(status, 0) for status in Image.Status.values}


def failed_images(limit: int | None = 100) -> QuerySet[Image]:
    return Image.objects.filter(status=Image.Status.FAILED).select_related("category").order_by("-updated_at")[:limit]


def items_to_requeue(*, pending_before: datetime | None, stale_before: datetime) -> list[int]:
    """Items that no queued task or live run will finish: processing ones whose claim went stale
    (their run's worker died) and, when `pending_before` is given, pending ones waiting since
    before it (their task never reached the broker, or was lost with it)."""
    lost = Q(status=Image.Status.PROCESSING, claimed_at__lt=stale_before)
    if pending_before is not None:
        lost |= Q(
            status__in=[Image.Status.PENDING, Image.Status.PROCESSING], claimed_by="", updated_at__lt=pending_before
        )
    return list(Image.objects.filter(lost).order_by("pk").values_list("pk", flat=True))
