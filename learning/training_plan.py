"""What training a word model would do, shown before it starts: the items and labels it would
learn, the labels that are not words, the time it should take and whether it would go live."""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.db.models import Count, Q

from catalog.models import Category, Image
from spaces import selectors
from spaces.models import EmbeddingSpace

# docs/benchmarks.md, "Training a word model": 24.6 s for 1000 items on 2 cores (the head alone).
SECONDS_PER_ITEM = 0.025
MIN_SECONDS = 5


@dataclass(frozen=True)
class TrainingPlan:
    items: int  # ready items of the categories it would learn
    labels: list[str]  # those categories
    not_words: list[str]  # categories marked for training with label words the word space lacks
    left_out: int  # categories not trained on (unlabelled photos, held-out sets)
    described: int  # ready items with a description: a text head (sentence space) learns those too
    seconds: int
    goes_live: bool  # a better model replaces live word search on its own
    current: str | None  # the word model that serves now
    previous: str | None  # the one a roll back returns to

    @property
    def can_train(self) -> bool:
        """Two labels to tell apart, or some descriptions to learn (a text head)."""
        return len(self.labels) >= 2 or self.described >= 4


def training_plan() -> TrainingPlan:
    joint = selectors.active_space(EmbeddingSpace.Kind.JOINT)
    categories = list(
        Category.objects.annotate(n=Count("images", filter=Q(images__status=Image.Status.READY)))
        .filter(n__gt=0)
        .order_by("name")
    )
    trained = [c for c in categories if c.trained_on]
    known = set(selectors.word_vectors(joint.word_space, {w for c in trained for w in c.words})) if joint else set()
    labels = [c for c in trained if any(word in known for word in c.words)]
    items = sum(c.n for c in labels)
    previous = (
        EmbeddingSpace.objects.filter(
            kind=EmbeddingSpace.Kind.JOINT, state=EmbeddingSpace.State.RETIRED, activated_at__isnull=False
        )
        .order_by("-activated_at")
        .values_list("name", flat=True)
        .first()
    )
    return TrainingPlan(
        items=items,
        labels=[c.name for c in labels],
        not_words=[c.name for c in trained if not all(word in known for word in c.words)],
        left_out=len(categories) - len(trained),
        described=Image.objects.filter(status=Image.Status.READY).exclude(description="").count(),
        seconds=max(MIN_SECONDS, round(items * SECONDS_PER_ITEM)),
        goes_live=settings.JOINT_AUTO_ACTIVATE,
        current=joint.name if joint else None,
        previous=previous,
    )
