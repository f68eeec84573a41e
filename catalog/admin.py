"""Admin for categories. Items (catalog.Image) are administered in `search.admin`, because
uploading and reprocessing them queue the workers that compute their vectors."""

from __future__ import annotations

from django.contrib import admin
from django.db.models import Count
from django.utils.html import format_html, format_html_join

from catalog import services
from catalog.models import Category, Image

# The category filter of a list lists this many, the largest; the others are found by searching.
FILTER_CATEGORIES = 15


class LargestCategoriesFilter(admin.SimpleListFilter):
    """A filter by category that stays short with a thousand categories: the largest ones, and
    the one chosen (reached from elsewhere) when it is not among them."""

    title = "category"
    parameter_name = "category__id__exact"

    def lookups(self, request, model_admin):
        largest = list(
            Category.objects.annotate(n=Count("images"))
            .order_by("-n", "name")
            .values_list("pk", "name", "n")[:FILTER_CATEGORIES]
        )
        chosen = self.value()
        if chosen and chosen.isdigit() and all(str(pk) != chosen for pk, _, _ in largest):
            largest += Category.objects.filter(pk=chosen).annotate(n=Count("images")).values_list("pk", "name", "n")
        return [(str(pk), f"{name} ({n})") for pk, name, n in largest]

    def queryset(self, request, queryset):
        value = self.value()
        return queryset.filter(category_id=value) if value and value.isdigit() else queryset


class ImageDisplay:
    """How the Images admin (search.admin.ImageAdmin) shows an item: a preview, one size column,
    classes and tags as words (not JSON), and a list that reloads itself while items are processed
    so that their states stay current."""

    @admin.display(description="Preview")
    def preview(self, obj: Image) -> str:
        if not obj.thumbnail:
            return "—"
        return format_html(
            '<img src="{}" alt="{}" style="max-height:80px;max-width:120px">', obj.thumbnail.url, obj.display_title
        )

    @admin.display(description="Title", ordering="title")
    def name(self, obj: Image) -> str:
        return obj.display_title  # an item titled by nobody is named by its tags, not "-"

    @admin.display(description="Size", ordering="width")
    def size(self, obj: Image) -> str:
        return f"{obj.width}\u00a0×\u00a0{obj.height}" if obj.width else "—"  # on one line

    @admin.display(description="Classes")
    def what_the_classifier_sees(self, obj: Image) -> str:
        """ "tiger cat 38%, tabby 17%, lynx <1%" """
        shares = (
            (c["label"], f"{round(100 * c['probability'])}%" if c["probability"] >= 0.01 else "<1%")
            for c in obj.classes
        )
        return format_html_join(", ", "{} {}", shares) or "—"

    @admin.display(description="Tags")
    def tag_words(self, obj: Image) -> str:
        return format_html_join(", ", "{}", ((t["word"],) for t in obj.tags)) or "—"

    def changelist_view(self, request, extra_context=None):
        unsettled = Image.objects.filter(status__in=[Image.Status.PENDING, Image.Status.PROCESSING]).exists()
        return super().changelist_view(request, {**(extra_context or {}), "processing": unsettled})


@admin.register(Category)
class CategoryAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "label_words", "trained_on"]
    list_editable = ["label_words", "trained_on"]
    search_fields = ["name", "description"]
    prepopulated_fields = {"slug": ["name"]}

    def save_model(self, request, obj: Category, form, change: bool) -> None:
        super().save_model(request, obj, form, change)
        services.refresh_search_documents(category=obj)  # its name is part of its items' text
