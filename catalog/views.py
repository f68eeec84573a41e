from __future__ import annotations

from urllib.parse import urlencode

from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.urls import reverse

from catalog import selectors, trail
from catalog.htmx import wants_partial
from catalog.models import Category
from catalog.pagination import Pager


def home(request: HttpRequest) -> HttpResponse:
    slug = request.GET.get("category") or None
    category = get_object_or_404(Category, slug=slug) if slug else None
    page = selectors.catalogue_page(category=category, page=request.GET.get("page"))
    categories = selectors.categories_with_counts()
    context = {
        "page": page,
        "pager": Pager.from_page(page),
        "pager_query": f"{urlencode({'category': slug})}&" if slug else "",
        "category": category,
        "categories": categories[: selectors.HOME_CATEGORIES],
        "category_total": categories.count(),
    }
    trail.remember(request.session, (image.pk for image in page.object_list), request.get_full_path())
    template = "catalog/_grid.html" if wants_partial(request) else "catalog/home.html"
    return render(request, template, context)


def categories(request: HttpRequest) -> HttpResponse:
    """Every category, searchable by name: /categories/?q=; htmx gets only the list."""
    search = request.GET.get("q", "").strip()[:120]
    page = Paginator(selectors.categories_with_counts(search), 60).get_page(request.GET.get("page"))
    context = {
        "page": page,
        "pager": Pager.from_page(page),
        "q": search,
        "pager_query": f"{urlencode({'q': search})}&",
        "pager_path": reverse("catalog:categories"),
    }
    template = "catalog/_category_list.html" if wants_partial(request) else "catalog/categories.html"
    return render(request, template, context)


def image_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """The item page (pending and failed items, with their error, only for staff); htmx polls it
    for the live status part until the item settles."""
    image = get_object_or_404(selectors.images_visible_to(request.user), pk=pk)
    if wants_partial(request):
        return render(request, "catalog/_image_status.html", {"image": image})
    return render(request, "catalog/image_detail.html", {"image": image, "step": trail.step(request.session, pk)})
