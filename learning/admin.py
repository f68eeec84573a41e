"""The admin of embedding spaces: models without downtime (train, evaluate, switch, roll back)."""

from __future__ import annotations

from django.contrib import admin, messages
from django.db import transaction
from django.db.models import Count
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.text import Truncator

from learning import services, tasks, training
from learning.training_plan import training_plan
from spaces.models import EmbeddingSpace, JointModel
from spaces.services import SpaceRefused, delete_space, roll_back


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
        "storage",  # float32 until `manage.py compact_vectors` moves it to halfvec
        "source",
        "checksum",
        "word_space",
        "state",
        "created_at",
        "activated_at",
    ]
    actions = ["activate", "delete_spaces"]
    change_list_template = "admin/spaces/embeddingspace/change_list.html"

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
            '<a href="{}" target="_blank">Report</a>', reverse("admin:spaces_embeddingspace_report", args=[obj.pk])
        )

    @admin.action(description="Make active (searches switch to it; the current one is retired)")
    def activate(self, request: HttpRequest, queryset) -> None:
        if queryset.values("kind").distinct().count() != queryset.count():
            self.message_user(request, "Choose at most one space of each kind.", messages.ERROR)
            return
        for space in queryset:
            try:
                services.switch_to(space)
            except SpaceRefused as exc:
                self.message_user(request, f"Not activated: {exc}", messages.ERROR)
            else:
                self.message_user(request, f"{space.name} is now active.")

    @admin.action(description="Delete retired spaces (their vectors, index and model files)")
    def delete_spaces(self, request: HttpRequest, queryset) -> None:
        for space in queryset:
            name = space.name
            try:
                count = delete_space(space)
            except SpaceRefused as exc:
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
            path("train/", view(self.train_view), name="spaces_embeddingspace_train"),
            path("rollback/", view(self.rollback_view), name="spaces_embeddingspace_rollback"),
            path("<int:pk>/report/", view(self.report_view), name="spaces_embeddingspace_report"),
        ] + super().get_urls()

    def confirm_page(self, request: HttpRequest, template: str, title: str) -> HttpResponse:
        """What a training or a roll back would do, with the button that does it (POST)."""
        context = {**self.admin_site.each_context(request), "title": title, "opts": self.model._meta}
        return TemplateResponse(request, template, {**context, "plan": training_plan()})

    def train_view(self, request: HttpRequest) -> HttpResponse:
        if request.method == "GET":
            return self.confirm_page(request, "admin/spaces/embeddingspace/train.html", "Train a word model")
        if request.method == "POST" and request.user.has_perm("spaces.change_embeddingspace"):
            try:
                model = training.start_training(training.TrainingOptions())
            except training.TrainingError as exc:
                self.message_user(request, str(exc), messages.ERROR)
            else:
                transaction.on_commit(lambda: tasks.train_joint_model.delay(model.pk))
                self.message_user(request, f"Training {model.space.name}: progress below.")
        return redirect("admin:spaces_embeddingspace_changelist")

    def rollback_view(self, request: HttpRequest) -> HttpResponse:
        if request.method == "GET":
            return self.confirm_page(request, "admin/spaces/embeddingspace/rollback.html", "Roll back word search")
        if request.method == "POST" and request.user.has_perm("spaces.change_embeddingspace"):
            try:
                space = roll_back(EmbeddingSpace.Kind.JOINT)
            except SpaceRefused as exc:
                self.message_user(request, str(exc), messages.ERROR)
            else:
                self.message_user(request, f"Rolled back: word search uses {space.name} again.")
        return redirect("admin:spaces_embeddingspace_changelist")

    def report_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        model = get_object_or_404(JointModel, space_id=pk)
        if not model.report:
            raise Http404("This model has no report yet.")
        with model.report.open("rb") as handle:
            return HttpResponse(handle.read(), content_type="text/html; charset=utf-8")
