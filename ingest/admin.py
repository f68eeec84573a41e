"""The Image admin: the catalogue's items, the upload form and the processing page."""

from __future__ import annotations

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.decorators import method_decorator
from django.utils.html import format_html
from django.views.decorators.http import require_http_methods
from kombu.exceptions import OperationalError as BrokerError
from redis.exceptions import RedisError

from catalog import selectors as catalog_selectors
from catalog import services as catalog
from catalog.admin import ImageDisplay, LargestCategoriesFilter
from catalog.forms import ImageUploadForm
from catalog.models import Image
from ingest import operations, services, tasks


@admin.register(Image)
class ImageAdmin(ImageDisplay, admin.ModelAdmin):
    list_display = ["preview", "name", "category", "status", "size", "created_at"]
    list_display_links = ["preview", "name"]
    list_filter = ["status", LargestCategoriesFilter]
    date_hierarchy = "created_at"
    search_fields = ["title", "description", "sha256", "category__name"]
    readonly_fields = [
        "preview",
        "sha256",
        "width",
        "height",
        "status",
        "error",
        "what_the_classifier_sees",
        "tag_words",
        "uploaded_by",
        "created_at",
        "updated_at",
        "thumbnail",
    ]
    fields = ["preview", "title", "description", "category", "original", *readonly_fields[1:]]
    actions = ["reprocess"]
    change_list_template = "admin/catalog/image/change_list.html"

    @admin.action(description="Process again (thumbnails, vectors, tags; ready items stay searchable)")
    def reprocess(self, request: HttpRequest, queryset) -> None:
        ids = list(queryset.values_list("pk", flat=True))
        tasks.reprocess(ids)
        self.message_user(request, f"Queued {len(ids)} item(s).")

    def save_model(self, request: HttpRequest, obj: Image, form, change: bool) -> None:
        super().save_model(request, obj, form, change)
        catalog.refresh_search_documents(image_ids=[obj.pk])  # title, description or category changed

    def has_add_permission(self, request: HttpRequest) -> bool:
        # Items are added through the upload form, which validates and de-duplicates the bytes.
        return False

    def get_urls(self):
        return [
            path("upload/", self.admin_site.admin_view(self.upload_view), name="catalog_image_upload"),
            path("operations/", self.admin_site.admin_view(self.operations_view), name="catalog_image_operations"),
        ] + super().get_urls()

    @method_decorator(require_http_methods(["GET", "POST"]))
    def operations_view(self, request: HttpRequest) -> HttpResponse:
        """The processing pipeline at a glance (like Immich's jobs page): items by state, failed
        items with their errors and a retry button, the queue, the workers, the reconciler."""
        if not request.user.has_perm("catalog.change_image"):
            raise PermissionDenied
        if request.method == "POST":
            ids = [int(pk) for pk in request.POST.getlist("retry") if pk.isdigit()]
            if request.POST.get("all"):
                ids = list(catalog_selectors.failed_images(limit=None).values_list("pk", flat=True))
            tasks.reprocess(ids)
            self.message_user(request, f"Queued {len(ids)} item(s) again.")
            return redirect("admin:catalog_image_operations")
        if request.GET.get("part") == "workers":  # asked once the page shows: a ping waits 1 s for replies
            return render(request, "admin/catalog/image/_workers.html", {"workers": operations.workers_answering()})
        try:
            queue_length = operations.queue_length()
        except (RedisError, BrokerError, OSError):
            queue_length = None  # the page still shows what the database knows
        context = {
            **self.admin_site.each_context(request),
            "title": "Processing",
            "opts": self.model._meta,
            "counts": catalog_selectors.status_counts(),
            "failed": catalog_selectors.failed_images(),
            "queue_length": queue_length,
            "last_reconcile": operations.last_reconcile(),
        }
        return TemplateResponse(request, "admin/catalog/image/operations.html", context)

    def upload_view(self, request: HttpRequest) -> HttpResponse:
        if not request.user.has_perm("catalog.change_image"):
            return redirect("admin:index")
        form = ImageUploadForm(request.POST or None, request.FILES or None)
        if request.method == "POST" and form.is_valid():
            category = form.cleaned_data["category"] or catalog.get_or_create_category(
                form.cleaned_data["new_category"]
            )
            report = services.upload_files(
                form.cleaned_data["files"],
                category=category,
                title=form.cleaned_data["title"],
                titles=form.titles(),
                description=form.cleaned_data["description"],
                user=request.user,
            )
            for name, message, existing in report.errors:
                link = format_html(' <a href="{}">Open it</a>.', existing.get_absolute_url()) if existing else ""
                form.add_error("files", format_html("{}: {}{}", name, message, link))
            if report.created:
                messages.success(request, f"Uploaded {len(report.created)} image(s); processing has started.")
            if not report.errors:
                return redirect(reverse("admin:catalog_image_changelist"))
        context = {
            **self.admin_site.each_context(request),
            "title": "Upload images",
            "form": form,
            "opts": self.model._meta,
        }
        return TemplateResponse(request, "admin/catalog/image/upload.html", context)
