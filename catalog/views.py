from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render

from catalog import selectors
from catalog.models import Category


def home(request: HttpRequest) -> HttpResponse:
    slug = request.GET.get("category") or None
    category = get_object_or_404(Category, slug=slug) if slug else None
    page = selectors.catalogue_page(category=category, page=request.GET.get("page"))
    context = {"page": page, "category": category, "categories": selectors.categories_with_counts()}
    template = "catalog/_grid.html" if request.htmx and not request.htmx.boosted else "catalog/home.html"
    return render(request, template, context)


def image_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """An item; pending and failed ones (with their error) only for staff."""
    image = get_object_or_404(selectors.images_visible_to(request.user), pk=pk)
    return render(request, "catalog/image_detail.html", {"image": image})


def image_status(request: HttpRequest, pk: int) -> HttpResponse:
    """The live-updating part of the item page (polled by htmx until the item settles)."""
    image = get_object_or_404(selectors.images_visible_to(request.user), pk=pk)
    return render(request, "catalog/_image_status.html", {"image": image})
