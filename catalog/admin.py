"""Admin for categories. Items (catalog.Image) are administered in `search.admin`, because
uploading and reprocessing them queue the workers that compute their vectors."""

from __future__ import annotations

from django.contrib import admin

from catalog import services
from catalog.models import Category


@admin.register(Category)
class CategoryAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "label_words", "trained_on"]
    list_editable = ["label_words", "trained_on"]
    search_fields = ["name", "description"]
    prepopulated_fields = {"slug": ["name"]}

    def save_model(self, request, obj: Category, form, change: bool) -> None:
        super().save_model(request, obj, form, change)
        services.refresh_search_documents(category=obj)  # its name is part of its items' text
