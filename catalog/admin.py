"""Admin for categories. Items (catalog.Image) are administered in `search.admin`, because
uploading and reprocessing them queue the workers that compute their vectors."""

from __future__ import annotations

from django.contrib import admin
from django.db.models import Count
from django.utils.html import format_html_join

from catalog import services
from catalog.models import Category

# The category filter of a list lists this many, the largest; the others are found by searching.
FILTER_CATEGORIES = 15


class LargestCategoriesFilter(admin.SimpleListFilter):
    """A filter by category that stays short with a thousand categories: the largest ones, and
    the one chosen (reached from elsewhere) when it is not among them."""

    title = "category"
    parameter_name = "category__id__exact"

    def lookups(self, request, model_admin):
        largest = list(
            Category.objects.annotate(n=Count("images")).order_by("-n", "name").values_list("pk", "name", "n")[
                :FILTER_CATEGORIES
            ]
        )
        chosen = self.value()
        if chosen and chosen.isdigit() and all(str(pk) != chosen for pk, _, _ in largest):
            largest += Category.objects.filter(pk=chosen).annotate(n=Count("images")).values_list("pk", "name", "n")
        return [(str(pk), f"{name} ({n})") for pk, name, n in largest]

    def queryset(self, request, queryset):
        value = self.value()
        return queryset.filter(category_id=value) if value and value.isdigit() else queryset


def readable_classes(classes: list[dict]) -> str:
    """An item's classes as the admin shows them: "tiger cat 38%, tabby 17%"."""
    return format_html_join(", ", "{} {}%", ((c["label"], round(100 * c["probability"])) for c in classes)) or "—"


def readable_tags(tags: list[dict]) -> str:
    return format_html_join(", ", "{}", ((t["word"],) for t in tags)) or "—"


@admin.register(Category)
class CategoryAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "label_words", "trained_on"]
    list_editable = ["label_words", "trained_on"]
    search_fields = ["name", "description"]
    prepopulated_fields = {"slug": ["name"]}

    def save_model(self, request, obj: Category, form, change: bool) -> None:
        super().save_model(request, obj, form, change)
        services.refresh_search_documents(category=obj)  # its name is part of its items' text
