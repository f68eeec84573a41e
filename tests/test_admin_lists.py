"""The Images admin list and item page stay readable with many categories and JSON fields."""

from __future__ import annotations

import pytest
from django.urls import reverse

from catalog.admin import FILTER_CATEGORIES
from catalog.models import Category, Image
from catalog.names import name_key


@pytest.fixture
def many_categories(db) -> list[Category]:
    categories = Category.objects.bulk_create(
        [
            Category(name=f"Kind {n:03d}", key=name_key(f"Kind {n:03d}"), slug=f"kind-{n:03d}")
            for n in range(FILTER_CATEGORIES + 10)
        ]
    )
    Image.objects.bulk_create(
        [
            Image(
                title=f"Item {n}",
                category=categories[n % len(categories)],
                sha256=f"{n:064x}",
                original="x.png",
                status=Image.Status.READY,
                width=640,
                height=480,
                classes=[{"index": 281, "label": "tabby", "probability": 0.42}],
                tags=[{"word": "cat", "score": 0.9}, {"word": "pet", "score": 0.5}],
            )
            for n in range(40)
        ]
    )
    return categories


def test_category_filter_lists_only_the_largest(admin_client, many_categories) -> None:
    html = admin_client.get(reverse("admin:catalog_image_changelist")).content.decode()
    listed = [c.name for c in many_categories if f"{c.name} (" in html]
    assert len(listed) == FILTER_CATEGORIES
    assert "640\u00a0×\u00a0480" in html  # one size column, on one line
    rare = many_categories[-1]
    chosen = admin_client.get(reverse("admin:catalog_image_changelist"), {"category__id__exact": rare.pk})
    assert chosen.status_code == 200 and f"{rare.name} (" in chosen.content.decode()
    assert chosen.context["cl"].result_count == Image.objects.filter(category=rare).count()


def test_item_page_shows_classes_and_tags_as_words(admin_client, many_categories) -> None:
    image = Image.objects.first()
    html = admin_client.get(reverse("admin:catalog_image_change", args=[image.pk])).content.decode()
    assert "tabby 42%" in html and "cat, pet" in html
    assert '"probability"' not in html
