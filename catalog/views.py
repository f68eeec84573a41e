from __future__ import annotations

from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render

from catalog import selectors
from catalog.models import Category, Image


def home(request: HttpRequest) -> HttpResponse:
    slug = request.GET.get("category") or None
    category = get_object_or_404(Category, slug=slug) if slug else None
    page = selectors.catalogue_page(category=category, page=request.GET.get("page"))
    categories = selectors.categories_with_counts()
    context = {
        "page": page,
        "category": category,
        "categories": categories[: selectors.HOME_CATEGORIES],
        "category_total": categories.count(),
    }
    template = "catalog/_grid.html" if request.htmx and not request.htmx.boosted else "catalog/home.html"
    return render(request, template, context)


def categories(request: HttpRequest) -> HttpResponse:
    """Every category, searchable by name: /categories/?q=; htmx gets only the list."""
    search = request.GET.get("q", "").strip()[:120]
    page = Paginator(selectors.categories_with_counts(search), 60).get_page(request.GET.get("page"))
    context = {"page": page, "q": search}
    template = "catalog/_category_list.html" if request.htmx and not request.htmx.boosted else "catalog/categories.html"
    return render(request, template, context)


def image_detail(request: HttpRequest, pk: int) -> HttpResponse:
    image = get_object_or_404(Image.objects.select_related("category"), pk=pk)
    return render(request, "catalog/image_detail.html", {"image": image})


def image_status(request: HttpRequest, pk: int) -> HttpResponse:
    """The live-updating part of the item page (polled by htmx until the item settles)."""
    image = get_object_or_404(Image.objects.select_related("category"), pk=pk)
    return render(request, "catalog/_image_status.html", {"image": image})
