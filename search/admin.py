from __future__ import annotations

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import Count
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.decorators import method_decorator
from django.utils.html import format_html
from django.utils.text import Truncator
from django.views.decorators.http import require_http_methods
from kombu.exceptions import OperationalError as BrokerError
from redis.exceptions import RedisError

from catalog import selectors as catalog_selectors
from catalog import services as catalog
from catalog.admin import ImageDisplay, LargestCategoriesFilter
from catalog.forms import ImageUploadForm
from catalog.models import Image
from search import operations, services, tasks, training
from search.models import EmbeddingSpace, JointModel
from search.training_plan import training_plan


@admin.register(EmbeddingSpace)
class EmbeddingSpaceAdmin(admin.ModelAdmin):
    """Models without downtime: spaces with their state, size, metrics and training progress;
    train, switch (atomic), roll back, delete retired spaces with their vectors and index."""

    list_display = [
        "name",
        "kind",
        "state",
        "vector_count",
        "training",
        "r_precision",
        "report_link",
        "activated_at",
        "created_at",
    ]
    list_filter = ["kind", "state"]
    readonly_fields = [
        "name",
        "kind",
        "model",
        "dims",
        "source",
        "checksum",
        "word_space",
        "state",
        "created_at",
        "activated_at",
    ]
    actions = ["activate", "delete_spaces"]
    change_list_template = "admin/search/embeddingspace/change_list.html"

    def get_queryset(self, request: HttpRequest):
        return (
            super()
            .get_queryset(request)
            .select_related("joint_model")
            .annotate(
                image_vectors=Count("image_embeddings", distinct=True), word_vectors=Count("words", distinct=True)
            )
        )

    def get_actions(self, request: HttpRequest):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)  # `delete_spaces` also drops the index and the model files
        return actions

    @admin.display(description="Vectors")
    def vector_count(self, obj: EmbeddingSpace) -> int:
        return obj.word_vectors if obj.kind == EmbeddingSpace.Kind.WORD else obj.image_vectors

    @admin.display(description="Trained model")
    def training(self, obj: EmbeddingSpace) -> str:
        model = getattr(obj, "joint_model", None)
        if model is None:
            return "—"
        return format_html(
            '<span class="training" data-state="{}" title="{}">{} {}% · {} items · {}</span>',
            model.state,
            model.message,  # whole on hover, shortened below: the other columns stay in view
            model.get_state_display(),
            model.progress,
            model.training_size,
            Truncator(model.message).chars(48),
        )

    @admin.display(description="R-precision")
    def r_precision(self, obj: EmbeddingSpace) -> str:
        model = getattr(obj, "joint_model", None)
        if model is None:
            return "—"
        value = model.metrics.get("evaluation", {}).get(obj.name, {}).get("all", {}).get("r_precision")
        return "—" if value is None else f"{value:.3f}"

    @admin.display(description="Report")
    def report_link(self, obj: EmbeddingSpace) -> str:
        model = getattr(obj, "joint_model", None)
        if model is None or not model.report:
            return "—"
        return format_html(
            '<a href="{}" target="_blank">Report</a>', reverse("admin:search_embeddingspace_report", args=[obj.pk])
        )

    @admin.action(description="Make active (searches switch to it; the current one is retired)")
    def activate(self, request: HttpRequest, queryset) -> None:
        if queryset.values("kind").distinct().count() != queryset.count():
            self.message_user(request, "Choose at most one space of each kind.", messages.ERROR)
            return
        for space in queryset:
            try:
                services.switch_to(space)
            except services.SpaceRefused as exc:
                self.message_user(request, f"Not activated: {exc}", messages.ERROR)
            else:
                self.message_user(request, f"{space.name} is now active.")

    @admin.action(description="Delete retired spaces (their vectors, index and model files)")
    def delete_spaces(self, request: HttpRequest, queryset) -> None:
        for space in queryset:
            name = space.name
            try:
                count = services.delete_space(space)
            except services.SpaceRefused as exc:
                self.message_user(request, f"Not deleted: {exc}", messages.ERROR)
            else:
                self.message_user(request, f"Deleted {name} with its {count} vectors and its index.")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # spaces are registered by the workers, import_word_vectors and training

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False  # through `delete_spaces`, which refuses active spaces and drops the index

    def changelist_view(self, request: HttpRequest, extra_context=None):
        busy = JointModel.objects.filter(
            state__in=[JointModel.State.TRAINING, JointModel.State.FILLING, JointModel.State.EVALUATING]
        ).exists()
        return super().changelist_view(request, {**(extra_context or {}), "training_in_progress": busy})

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path("train/", view(self.train_view), name="search_embeddingspace_train"),
            path("rollback/", view(self.rollback_view), name="search_embeddingspace_rollback"),
            path("<int:pk>/report/", view(self.report_view), name="search_embeddingspace_report"),
        ] + super().get_urls()

    def confirm_page(self, request: HttpRequest, template: str, title: str) -> HttpResponse:
        """What a training or a roll back would do, with the button that does it (POST)."""
        context = {**self.admin_site.each_context(request), "title": title, "opts": self.model._meta}
        return TemplateResponse(request, template, {**context, "plan": training_plan()})

    def train_view(self, request: HttpRequest) -> HttpResponse:
        if request.method == "GET":
            return self.confirm_page(request, "admin/search/embeddingspace/train.html", "Train a word model")
        if request.method == "POST" and request.user.has_perm("search.change_embeddingspace"):
            try:
                model = training.start_training(training.TrainingOptions())
            except training.TrainingError as exc:
                self.message_user(request, str(exc), messages.ERROR)
            else:
                transaction.on_commit(lambda: tasks.train_joint_model.delay(model.pk))
                self.message_user(request, f"Training {model.space.name}: progress below.")
        return redirect("admin:search_embeddingspace_changelist")

    def rollback_view(self, request: HttpRequest) -> HttpResponse:
        if request.method == "GET":
            return self.confirm_page(request, "admin/search/embeddingspace/rollback.html", "Roll back word search")
        if request.method == "POST" and request.user.has_perm("search.change_embeddingspace"):
            try:
                space = services.roll_back(EmbeddingSpace.Kind.JOINT)
            except services.SpaceRefused as exc:
                self.message_user(request, str(exc), messages.ERROR)
            else:
                self.message_user(request, f"Rolled back: word search uses {space.name} again.")
        return redirect("admin:search_embeddingspace_changelist")

    def report_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        model = get_object_or_404(JointModel, space_id=pk)
        if not model.report:
            raise Http404("This model has no report yet.")
        with model.report.open("rb") as handle:
            return HttpResponse(handle.read(), content_type="text/html; charset=utf-8")


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
            report = catalog.upload_files(
                form.cleaned_data["files"],
                category=category,
                title=form.cleaned_data["title"],
                titles=form.titles(),
                description=form.cleaned_data["description"],
                user=request.user,
            )
            tasks.queue_processing(image.pk for image in report.created)  # in batches: the CNN runs batched
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
