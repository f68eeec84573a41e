"""Embedding spaces are data, not schema.

Every model (an image encoder, a word-vector file, a joint image-to-word space) is a row of
`EmbeddingSpace`. Vectors of all spaces share one table per owner kind with an untyped
pgvector column; each space gets its own partial expression HNSW index, created when the space
is registered (see `spaces.services.create_space_index`). Adding a model never needs a migration,
and a new space can fill in while the old one keeps serving.
"""

from __future__ import annotations

from django.db import models
from pgvector.django import HalfVectorField, VectorField


class EmbeddingSpace(models.Model):
    class Kind(models.TextChoices):
        IMAGE = "image", "Image features"
        MEANING = "meaning", "Image meaning (WordNet class mass)"
        WORD = "word", "Word vectors"
        JOINT = "joint", "Images in word space"

    class TextEncoding(models.TextChoices):
        """How a word space turns query text into a vector."""

        WORD_VECTORS = "word_vectors", "Word vectors (rows looked up, a query is their weighted mean)"
        SENTENCE = "sentence", "Sentence encoder (a query is embedded whole)"

    class Storage(models.TextChoices):
        """How an image space's vectors are stored and indexed (word spaces: always float32)."""

        FLOAT16 = "float16", "halfvec: 2 bytes a value (indexed as halfvec)"
        # Spaces made before halfvec storage, until `manage.py compact_vectors` moves them.
        FLOAT32 = "float32", "vector: 4 bytes a value"

    class State(models.TextChoices):
        BUILDING = "building", "Building"
        ACTIVE = "active", "Active"
        RETIRED = "retired", "Retired"

    name = models.CharField(max_length=120, unique=True)
    kind = models.CharField(max_length=10, choices=Kind.choices)
    model = models.CharField(max_length=120, help_text="Encoder or word-vector model that produced the vectors.")
    dims = models.PositiveIntegerField()
    # Word spaces only. A sentence space's Word rows are a vocabulary (similar words, spelling);
    # queries and class prototypes run through its encoder (`model`) instead.
    text_encoding = models.CharField(max_length=12, choices=TextEncoding.choices, default=TextEncoding.WORD_VECTORS)
    source = models.CharField(max_length=500, blank=True)
    checksum = models.CharField(max_length=64, blank=True)
    # A joint space maps images into the vectors of this word space.
    word_space = models.ForeignKey("self", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    state = models.CharField(max_length=10, choices=State.choices, default=State.BUILDING)
    created_at = models.DateTimeField(auto_now_add=True)
    # When it last became active: rolling back activates the retired space activated most recently.
    activated_at = models.DateTimeField(null=True, blank=True)
    # Bumped whenever its vectors are (re)imported: caches of them are keyed by it.
    version = models.PositiveIntegerField(default=1)
    storage = models.CharField(max_length=8, choices=Storage.choices, default=Storage.FLOAT16)

    class Meta:
        ordering = ["kind", "name"]
        constraints = [
            models.UniqueConstraint(
                fields=["kind"], condition=models.Q(state="active"), name="one_active_space_per_kind"
            )
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.kind}, {self.dims}-d)"

    @staticmethod
    def conse_name(encoder_name: str, word_space: EmbeddingSpace) -> str:
        """The name of an encoder's zero-shot (ConSE) joint space in a word space."""
        return f"conse/{encoder_name}/{word_space.name}"

    @property
    def encodes_sentences(self) -> bool:
        return self.text_encoding == self.TextEncoding.SENTENCE

    @property
    def is_compact(self) -> bool:
        """Its vectors are halfvecs, in ImageEmbedding.compact."""
        return self.kind != self.Kind.WORD and self.storage == self.Storage.FLOAT16

    @property
    def index_name(self) -> str:
        return self.index_names[-1 if self.is_compact else 0]

    @property
    def index_names(self) -> list[str]:
        """The names its index has had: a space's halfvec index is built beside its float32 one
        (`manage.py compact_vectors`), so the two need names of their own."""
        if self.kind == self.Kind.WORD:
            return [f"word_embedding_hnsw_space_{self.pk}"]
        return [f"image_embedding_hnsw_space_{self.pk}", f"image_embedding_hnsw_space_{self.pk}_half"]


class ImageEmbedding(models.Model):
    image = models.ForeignKey("catalog.Image", on_delete=models.CASCADE, related_name="embeddings")
    space = models.ForeignKey(EmbeddingSpace, on_delete=models.CASCADE, related_name="image_embeddings")
    # Untyped: dims come from the space. A float16 space (the default) stores `compact` only; a
    # float32 one `embedding` and, from the moment it can be compacted, `compact` as well, so
    # that `manage.py compact_vectors` can switch it over while it serves.
    embedding = VectorField(null=True, blank=True)
    compact = HalfVectorField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["image", "space"], name="one_embedding_per_image_space"),
            models.CheckConstraint(
                condition=models.Q(embedding__isnull=False) | models.Q(compact__isnull=False),
                name="image_embedding_has_a_vector",
            ),
        ]

    def __str__(self) -> str:
        return f"image {self.image_id} in space {self.space_id}"


class Word(models.Model):
    space = models.ForeignKey(EmbeddingSpace, on_delete=models.CASCADE, related_name="words")
    word = models.CharField(max_length=200)
    is_tag = models.BooleanField(default=False, help_text="Part of the vocabulary used for automatic tags.")
    embedding = VectorField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["space", "word"], name="one_vector_per_word_space")]

    def __str__(self) -> str:
        return self.word


def joint_model_path(instance: JointModel, filename: str) -> str:
    return f"joint-models/{filename}"


class JointModel(models.Model):
    """A trained image-to-word head (ml.devise) and the joint space it fills.

    Its weights live in Django's storage (a .npz); projecting needs numpy only. The space fills
    from the stored features of `image_space` (no CNN), while the active joint space serves.
    """

    class State(models.TextChoices):
        TRAINING = "training", "Training"
        FILLING = "filling", "Filling"
        EVALUATING = "evaluating", "Evaluating"
        READY = "ready", "Ready"
        FAILED = "failed", "Failed"

    space = models.OneToOneField(EmbeddingSpace, on_delete=models.CASCADE, related_name="joint_model")
    image_space = models.ForeignKey(EmbeddingSpace, on_delete=models.PROTECT, related_name="+")
    weights = models.FileField(upload_to=joint_model_path, blank=True)
    report = models.FileField(upload_to="reports/", blank=True)
    # Share of the zero-shot (ConSE) vector in the stored vector: 0 is the trained head alone.
    blend = models.FloatField(default=0.0)
    config = models.JSONField(default=dict, blank=True)  # ml.devise.HeadConfig and the training options
    training_size = models.PositiveIntegerField(default=0)
    labels = models.JSONField(default=list, blank=True)  # [{"name", "words", "items"}]
    train_ids = models.JSONField(default=list, blank=True)  # items it was trained on (kept out of evaluation)
    history = models.JSONField(default=list, blank=True)  # per epoch: train/val loss, val accuracy
    metrics = models.JSONField(default=dict, blank=True)  # training numbers and the last evaluation
    code_version = models.CharField(max_length=80, blank=True)
    state = models.CharField(max_length=12, choices=State.choices, default=State.TRAINING)
    progress = models.PositiveSmallIntegerField(default=0)  # percent, over training, filling and evaluation
    message = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.space.name} ({self.state})"

    @property
    def in_progress(self) -> bool:
        return self.state in (self.State.TRAINING, self.State.FILLING, self.State.EVALUATING)
