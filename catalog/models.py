from __future__ import annotations

from django.conf import settings
from django.contrib.postgres.indexes import GinIndex
from django.contrib.postgres.search import SearchVectorField
from django.core.exceptions import ValidationError
from django.db import models
from django.urls import reverse

from catalog.names import clean_name, name_key
from catalog.titles import display_title
from ml.words import words_of


class Category(models.Model):
    name = models.CharField(max_length=120, unique=True)
    # The name as every way of typing it maps to it (catalog.names.name_key): lookups and the
    # unique index use it, so "probe-K" with a Kelvin sign and "probe-k" are one category.
    key = models.CharField(max_length=400, unique=True, editable=False)
    slug = models.SlugField(max_length=140, unique=True)
    description = models.TextField(blank=True)
    # What a trained image-to-word model learns for this category's items ("tvmonitor" -> "tv monitor").
    label_words = models.CharField(
        max_length=200,
        blank=True,
        help_text="Words a trained word model learns for this category's items; empty: the name's words.",
    )
    trained_on = models.BooleanField(
        default=True,
        help_text="Train word models on this category's items; off for catch-alls such as “other”.",
    )

    class Meta:
        ordering = ["name"]
        verbose_name_plural = "categories"

    def __str__(self) -> str:
        return self.name

    def save(self, *args, **kwargs) -> None:
        self.name = clean_name(self.name)
        self.key = name_key(self.name)
        if kwargs.get("update_fields") is not None and "name" in kwargs["update_fields"]:
            kwargs["update_fields"] = {*kwargs["update_fields"], "key"}
        super().save(*args, **kwargs)

    def get_absolute_url(self) -> str:
        return f"{reverse('catalog:home')}?category={self.slug}"

    def clean(self) -> None:
        """Admin forms: a name that maps to another category's key is refused with a message."""
        taken = Category.objects.filter(key=name_key(self.name)).exclude(pk=self.pk).first()
        if taken:
            raise ValidationError({"name": f"This is the same name as the category “{taken.name}”."})

    @property
    def words(self) -> list[str]:
        """The label words: `label_words`, else the name's words without stop words."""
        return words_of(self.label_words or self.name)


class Image(models.Model):
    class Status(models.TextChoices):  # labels come from the names: "Pending", ...
        PENDING = "pending"
        PROCESSING = "processing"
        READY = "ready"
        FAILED = "failed"

    title = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    category = models.ForeignKey(Category, on_delete=models.PROTECT, related_name="images")
    original = models.ImageField(upload_to="originals/%Y/%m/", max_length=255)
    thumbnail = models.ImageField(upload_to="thumbnails/%Y/%m/", max_length=255, blank=True)
    width = models.PositiveIntegerField(null=True, blank=True)
    height = models.PositiveIntegerField(null=True, blank=True)
    sha256 = models.CharField(max_length=64, unique=True, editable=False)
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.PENDING, db_index=True)
    error = models.TextField(blank=True)
    # The claim of the task run processing the item (Celery task id): one run at a time. A run that
    # ends in any way releases it; a claim left behind means the run's worker died.
    claimed_by = models.CharField(max_length=64, blank=True, editable=False, default="", db_default="")
    claimed_at = models.DateTimeField(null=True, blank=True, editable=False)
    # Runs of this item alone whose worker died (killed, out of memory, time limit).
    interruptions = models.PositiveSmallIntegerField(default=0, db_default=0, editable=False)
    # What the encoder saw, kept for display: [{"index", "label", "probability"}] and [{"word", "score"}].
    classes = models.JSONField(default=list, blank=True)
    tags = models.JSONField(default=list, blank=True)
    # Title and category name (weight A), description (B) and tags (C), English stemming, for
    # the text side of hybrid search; kept current by catalog.services.refresh_search_documents.
    search_document = SearchVectorField(null=True, editable=False)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["category", "status"]), GinIndex(fields=["search_document"])]

    def __str__(self) -> str:
        return self.display_title

    def get_absolute_url(self) -> str:
        return reverse("catalog:image-detail", args=[self.pk])

    @property
    def display_title(self) -> str:
        """The title, or what the item is when it has none (its tags or category)."""
        return display_title(self.title, tags=self.tags, category_name=self.category.name)

    @property
    def is_settled(self) -> bool:
        return self.status in (self.Status.READY, self.Status.FAILED)
