"""Training a linear head into a sentence space from every text the catalogue's items have
(`learning.texts`): ridge in closed form (`ml.ridge`) or contrastive (`ml.contrastive`).

A share of the described items (`holdout`, per trained-on category and among the items with
free text alone) is held out: their text is hidden from training, and `evaluate` measures words
-> images on them. The regularisation (ridge) or the epoch (contrastive) is chosen on a
validation split of the training items, never on the held-out ones.
"""

from __future__ import annotations

from django.db.models import Count, Q

from catalog.models import Category, Image
from learning.texts import described_items
from ml.contrastive import fit_contrastive
from ml.devise import save_weights, stratified_split
from ml.familiarity import word_counts
from ml.ridge import fit_ridge

VALIDATION_FRACTION = 0.15
LINEAR_HEADS = ("ridge", "contrastive")
MIN_ITEMS = 4


class TooLittleText(ValueError):
    pass


def train_linear(image_space, options) -> dict:
    """Fit the head; returns the weights (bytes) and what the JointModel keeps of the training."""
    data = described_items(image_space)
    held_out = stratified_split(data.groups, options.holdout, options.seed, round_up=True)
    training = data.subset(~held_out)
    if len(training.image_ids) < MIN_ITEMS:
        raise TooLittleText(
            f"Too little to learn from: {len(training.image_ids)} items with a description, a title or a "
            f"trained-on category to train on (at least {MIN_ITEMS}, after holding out {int(held_out.sum())})."
        )
    validation = stratified_split(training.groups, VALIDATION_FRACTION, options.seed + 1)
    if options.head == "contrastive":
        head = fit_contrastive(training.features, training.meaning, training.targets, validation, seed=options.seed)
    else:
        head = fit_ridge(training.features, training.meaning, training.targets, validation)
    counts = word_counts(" ".join(texts) for texts in training.texts)
    return {
        "labels": _labels(training.image_ids.tolist()),
        "weights": save_weights(head.weights),
        "train_ids": training.image_ids.tolist(),
        "metrics": {
            "head": options.head,
            "seconds": round(head.seconds, 2),
            "regularisation": head.alpha,
            "validation": {str(key): value for key, value in head.validation.items()},
            "validation_items": int(validation.sum()),
            "items_with_text": len(data.image_ids),
            "described_items": described_count(image_space),
            "held_out_items": int(held_out.sum()),
            "word_counts": dict(counts.most_common()),
        },
    }


def described_count(image_space) -> int:
    """Ready items with a description or a trained-on category: what automatic training counts."""
    ready = Image.objects.filter(status=Image.Status.READY, embeddings__space=image_space)
    return ready.filter(Q(category__trained_on=True) | ~Q(description="")).count()


def _labels(image_ids: list[int]) -> list[dict]:
    """The trained-on categories among the items trained on, as DeViSE heads record them."""
    used = (
        Image.objects.filter(pk__in=image_ids, category__trained_on=True)
        .values("category_id")
        .annotate(items=Count("pk"))
    )
    items = {row["category_id"]: row["items"] for row in used}
    categories = Category.objects.filter(pk__in=items).order_by("name")
    return [{"name": c.name, "words": c.words, "items": items[c.pk]} for c in categories]
