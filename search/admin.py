from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import Count
from django.http import HttpRequest

from search import services
from search.models import EmbeddingSpace


@admin.register(EmbeddingSpace)
class EmbeddingSpaceAdmin(admin.ModelAdmin):
    list_display = ["name", "kind", "model", "dims", "state", "vector_count", "created_at"]
    list_filter = ["kind", "state"]
    readonly_fields = ["name", "kind", "model", "dims", "source", "checksum", "word_space", "state", "created_at"]
    actions = ["activate"]

    def get_queryset(self, request: HttpRequest):
        return (
            super()
            .get_queryset(request)
            .annotate(
                image_vectors=Count("image_embeddings", distinct=True), word_vectors=Count("words", distinct=True)
            )
        )

    @admin.display(description="Vectors")
    def vector_count(self, obj: EmbeddingSpace) -> int:
        return obj.word_vectors if obj.kind == EmbeddingSpace.Kind.WORD else obj.image_vectors

    @admin.action(description="Make active (searches switch to it; the current one is retired)")
    def activate(self, request: HttpRequest, queryset) -> None:
        if queryset.values("kind").distinct().count() != queryset.count():
            self.message_user(request, "Choose at most one space of each kind.", messages.ERROR)
            return
        for space in queryset:
            services.activate_space(space)
        self.message_user(request, f"Activated {queryset.count()} space(s).")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # spaces are registered by the workers and import_word_vectors
