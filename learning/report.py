"""The evaluation report: one self-contained HTML page (templates/learning/report.html), charts
as inline PNGs drawn with matplotlib, thumbnails as inline JPEGs."""

from __future__ import annotations

import base64
import io

import numpy as np
from django.template.loader import render_to_string
from django.utils import timezone
from PIL import Image as PILImage

from learning import text_evaluation
from learning.evaluation import EXAMPLE_WORDS, EvalSet, label_words, small_jpeg, trained_models
from ml.vectors import unit_rows
from search import query_vectors
from spaces.models import EmbeddingSpace

MAP_ITEMS = 150  # thumbnails drawn on the 2-D map
CHART_LABELS = 40  # the per-label chart shows the labels with most items; the table lists them all
EXAMPLE_LABELS = 6


def _png(figure) -> str:
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=90, bbox_inches="tight")
    plt.close(figure)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def _jpeg(data: bytes | None) -> str | None:
    if not data:
        return None
    return "data:image/jpeg;base64," + base64.b64encode(small_jpeg(PILImage.open(io.BytesIO(data)), 72)).decode()


def render_report(result: dict, eval_set: EvalSet, spaces: list[EmbeddingSpace]) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    joint = [space for space in spaces if space.kind == EmbeddingSpace.Kind.JOINT]
    names = sorted(result["labels"], key=lambda name: -result["labels"][name]["relevant"])
    context = {
        "result": result,
        "generated": timezone.now(),
        "summary": [
            {
                "name": name,
                "state": entry["state"],
                "values": [
                    entry.get(group, {}).get(key)
                    for group, key in (("all", "p10"), ("all", "r_precision"), ("trained", "r_precision"))
                ]
                + [entry.get("zero-shot", {}).get("r_precision"), entry.get("tag_hit_rate"), entry["image_p10"]],
            }
            for name, entry in result["spaces"].items()
        ],
        "curves": _curves(plt, trained_models(spaces)),
        "joint": joint,
        "label_chart": _label_chart(plt, result, joint, names[:CHART_LABELS]) if names and joint else None,
        "chart_labels": min(len(names), CHART_LABELS),
        "labels": [
            {
                "name": name,
                **result["labels"][name],
                "cells": [result["spaces"][space.name]["per_label"].get(name, {}) for space in joint],
            }
            for name in names
        ],
        "map": _map(plt, eval_set, joint) if joint else None,
        "examples": _examples(eval_set, joint, names[:EXAMPLE_LABELS]) if joint else [],
        "text_words": _text_words(result, eval_set, joint),
    }
    return render_to_string("learning/report.html", context)


def _text_words(result: dict, eval_set: EvalSet, joint: list[EmbeddingSpace]) -> list[dict]:
    """Per word of the held-out items' texts: each space's P@10 / R-precision among them, and its
    top hits among the items nobody described."""
    words = list(result.get("text", {}).get("words", {}))
    hits = dict(text_evaluation.undescribed_hits(eval_set.texts, eval_set.vectors, joint, words))
    return [
        {
            "word": word,
            "relevant": result["text"]["words"][word]["relevant"],
            "cells": [
                {
                    **result["text"]["words"][word]["spaces"].get(space.name, {}),
                    "hits": [{"src": _jpeg(eval_set.thumbnail(row))} for row in rows],
                }
                for space, rows in zip(joint, hits[word], strict=True)
            ],
        }
        for word in words
    ]


def _curves(plt, trained: dict) -> str | None:
    if not trained:
        return None
    figure, axes = plt.subplots(1, len(trained), figsize=(5 * len(trained), 3), squeeze=False)
    for axis, model in zip(axes[0], trained.values(), strict=True):
        axis.set_title(model.space.name, fontsize=9)
        if not model.history:  # a linear head: its validation score per choice tried
            _validation_curve(axis, model.metrics)
            continue
        epochs = [record["epoch"] for record in model.history]
        axis.plot(epochs, [record["train_loss"] for record in model.history], label="training loss")
        axis.plot(epochs, [record["val_loss"] for record in model.history], label="validation loss")
        if model.metrics.get("best_epoch"):
            axis.axvline(model.metrics["best_epoch"], color="grey", linestyle=":", label="kept")
        axis.set_xlabel("epoch")
        axis.legend(fontsize=8)
    return _png(figure)


def _validation_curve(axis, metrics: dict) -> None:
    scores = {float(key): value for key, value in metrics.get("validation", {}).items()}
    ridge = metrics.get("head") == "ridge"
    axis.plot(list(scores), list(scores.values()), marker="o", label="validation score")
    if ridge and scores:
        axis.set_xscale("log")
        axis.axvline(metrics["regularisation"], color="grey", linestyle=":", label="kept")
    axis.set_xlabel("regularisation (ridge alpha)" if ridge else "epoch")
    axis.legend(fontsize=8)


def _label_chart(plt, result: dict, joint: list[EmbeddingSpace], names: list[str]) -> str:
    figure, axis = plt.subplots(figsize=(max(6, 0.6 * len(names) * len(joint)), 3.5))
    width = 0.8 / len(joint)
    for number, space in enumerate(joint):
        per_label = result["spaces"][space.name]["per_label"]
        values = [per_label.get(name, {}).get("r_precision", 0) for name in names]
        axis.bar(np.arange(len(names)) + number * width, values, width, label=space.name)
    axis.set_xticks(np.arange(len(names)) + 0.4 - width / 2)
    star = {name: "*" if result["labels"][name]["group"] == "zero-shot" else "" for name in names}
    ticks = [f"{name}{star[name]} ({result['labels'][name]['relevant']})" for name in names]
    axis.set_xticklabels(ticks, rotation=60, ha="right", fontsize=8)
    axis.set_ylim(0, 1)
    axis.legend(fontsize=8)
    return _png(figure)


def _map(plt, eval_set: EvalSet, joint: list[EmbeddingSpace]) -> dict | None:
    """PCA (numpy SVD) of each joint space's vectors, drawn with thumbnails framed by label colour."""
    from matplotlib.offsetbox import AnnotationBbox, OffsetImage

    rows = sorted(range(len(eval_set.keys)), key=lambda row: eval_set.labels[row] is None)[:MAP_ITEMS]
    if len(rows) < 3:
        return None
    names = sorted({eval_set.labels[row] for row in rows if eval_set.labels[row]})
    colours = {name: plt.cm.tab20(number % 20) for number, name in enumerate(names)}
    pictures = {row: eval_set.thumbnail(row) for row in rows}
    figure, axes = plt.subplots(1, len(joint), figsize=(7 * len(joint), 7), squeeze=False)
    for axis, space in zip(axes[0], joint, strict=True):
        vectors = unit_rows(eval_set.vectors[space.pk][rows])
        centred = vectors - vectors.mean(axis=0)
        _, _, basis = np.linalg.svd(centred, full_matrices=False)
        points = centred @ basis[:2].T
        axis.scatter(points[:, 0], points[:, 1], s=2, color="white")
        for (x, y), row in zip(points, rows, strict=True):
            if pictures[row]:
                picture = PILImage.open(io.BytesIO(pictures[row])).convert("RGB")
                picture.thumbnail((28, 28))
                colour = colours.get(eval_set.labels[row], (0.8, 0.8, 0.8, 1))
                frame = {"edgecolor": colour, "linewidth": 2}
                axis.add_artist(AnnotationBbox(OffsetImage(np.asarray(picture), zoom=1), (x, y), bboxprops=frame))
        axis.set_title(space.name, fontsize=9)
        axis.set_xticks([])
        axis.set_yticks([])
    handles = [plt.Line2D([], [], color=colours[name], linewidth=4, label=name) for name in names[:20]]
    if handles:
        figure.legend(handles=handles, loc="lower center", ncol=min(len(handles), 8), fontsize=8)
    return {"items": len(rows), "image": _png(figure)}


def _examples(eval_set: EvalSet, joint: list[EmbeddingSpace], label_names: list[str]) -> list[dict]:
    """The top results of a few queries in each space: label words, then words nobody labelled."""
    words = [" ".join(label_words(name)) for name in label_names] + list(EXAMPLE_WORDS)
    examples = []
    for text in dict.fromkeys(word for word in words if word):
        cells = []
        for space in joint:
            query = query_vectors.word_query(text, space.word_space).vector
            if query is None:
                cells.append(None)
                continue
            order = np.argsort(-(unit_rows(eval_set.vectors[space.pk]) @ query), kind="stable")[:6]
            cells.append(
                [
                    {"src": _jpeg(eval_set.thumbnail(row)), "label": eval_set.labels[row] or "unlabelled"}
                    for row in order
                ]
            )
        examples.append({"query": text, "cells": cells})
    return examples
