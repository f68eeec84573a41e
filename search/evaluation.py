"""How well each space finds things, side by side, on the catalogue or on a labelled folder.

For every joint space: words -> images precision@10 and R-precision per label word, the tag hit
rate (an item's label word among its 10 nearest tag words), image -> image precision@10 within the
labelled items, and the means over the training labels and over the other (zero-shot) labels.
The report is one self-contained HTML file: charts as inline PNGs, thumbnails as inline JPEGs.
On the catalogue, items that a compared model was trained on are left out.
"""

from __future__ import annotations

import base64
import csv
import html
import io
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from django.conf import settings
from django.core.files.base import ContentFile
from django.utils import timezone
from PIL import Image as PILImage

from catalog.models import Category, Image
from ml.conse import conse_vectors
from ml.devise import joint_vectors, unit_rows
from ml.images import open_image
from ml.words import words_of
from search import queries, selectors
from search.encoders import current_encoder
from search.models import EmbeddingSpace, ImageEmbedding, JointModel

Kind = EmbeddingSpace.Kind
TOP_K = 10
EXAMPLE_WORDS = ("ocean", "street", "grass")  # no item is labelled with them: zero-shot examples
MAP_ITEMS = 150  # thumbnails drawn on the 2-D map
CHART_LABELS = 40  # labels in the per-label chart, those with most relevant items (the table has all)


@dataclass
class EvalSet:
    keys: list  # image ids (catalogue) or file names (folder)
    labels: list[str | None]
    vectors: dict[int, np.ndarray]  # space pk -> (n, dims)
    thumbnail: Callable[[int], bytes | None]  # row -> small JPEG
    source: str
    notes: list[str] = field(default_factory=list)


def label_words(label: str) -> list[str]:
    """A label's words: those of the catalogue category of that name, else the label's own."""
    category = Category.objects.filter(name__iexact=label).first()
    return category.words if category else words_of(label)


def _trained(spaces: list[EmbeddingSpace]) -> dict[int, JointModel]:
    return {model.space_id: model for model in JointModel.objects.filter(space__in=spaces)}


def catalogue_set(spaces: list[EmbeddingSpace]) -> EvalSet:
    """Ready items with a vector in every space, minus those any compared model was trained on."""
    seen = {image_id for model in _trained(spaces).values() for image_id in model.train_ids}
    stored = [
        dict(
            ImageEmbedding.objects.filter(space=space, image__status=Image.Status.READY).values_list(
                "image_id", "embedding"
            )
        )
        for space in spaces
    ]
    common = set.intersection(*(set(vectors) for vectors in stored)) if stored else set()
    images = Image.objects.filter(pk__in=common).select_related("category").order_by("pk")
    notes = []
    unseen = [image for image in images if image.pk not in seen]
    if seen and any(image.category.trained_on for image in unseen):
        notes.append(f"{len(images) - len(unseen)} items that a compared model was trained on are left out.")
        images = unseen
    elif seen:
        notes.append("Every labelled item was used in training: these numbers include training items.")
        images = list(images)
    else:
        images = list(images)
    thumbnails = [image.thumbnail for image in images]

    def thumbnail(row: int) -> bytes | None:
        if not thumbnails[row]:
            return None
        with thumbnails[row].open("rb") as handle:
            return handle.read()

    return EvalSet(
        keys=[image.pk for image in images],
        labels=[image.category.name if image.category.trained_on else None for image in images],
        vectors={
            space.pk: np.array([vectors[image.pk] for image in images], dtype=np.float32).reshape(-1, space.dims)
            for space, vectors in zip(spaces, stored, strict=True)
        },
        thumbnail=thumbnail,
        source=f"the catalogue ({len(images)} ready items)",
        notes=notes,
    )


def _small_jpeg(picture: PILImage.Image, size: int = 96) -> bytes:
    picture = picture.copy()
    picture.thumbnail((size, size))
    buffer = io.BytesIO()
    picture.convert("RGB").save(buffer, format="JPEG", quality=80)
    return buffer.getvalue()


def folder_set(
    spaces: list[EmbeddingSpace], directory: Path, labels_file: Path, column: str, file_column: str = "file"
) -> EvalSet:
    """A labelled folder, encoded with the current encoder and projected into each space; nothing
    is stored. Rows with an empty label are unlabelled distractors."""
    with labels_file.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    encoder = current_encoder()
    pictures = [
        open_image((directory / row[file_column]).read_bytes(), max_pixels=settings.MAX_IMAGE_PIXELS) for row in rows
    ]
    encoding = encoder.encode(pictures)
    thumbnails = [_small_jpeg(picture) for picture in pictures]
    trained = _trained(spaces)
    vectors = {}
    for space in spaces:
        if space.kind == Kind.IMAGE:
            if space.name != encoder.name:
                raise ValueError(f"{space.name} is not the current encoder's space ({encoder.name}).")
            vectors[space.pk] = encoding.features
            continue
        conse = conse_vectors(encoding.logits, selectors.class_vectors(space.word_space), settings.CONSE_TOP_T)
        model = trained.get(space.pk)
        vectors[space.pk] = (
            conse
            if model is None
            else joint_vectors(encoding.features, selectors.head_weights(model), conse=conse, blend=model.blend)
        )
    return EvalSet(
        keys=[row[file_column] for row in rows],
        labels=[row[column].strip() or None for row in rows],
        vectors=vectors,
        thumbnail=thumbnails.__getitem__,
        source=f"{directory} ({len(rows)} photos, labels from column {column!r} of {labels_file.name})",
    )


def _precision_at(relevant: np.ndarray, order: np.ndarray, k: int) -> float:
    return float(relevant[order[:k]].mean()) if k > 0 else 0.0


def _image_precision(vectors: np.ndarray, labels: np.ndarray) -> float | None:
    """Mean share of same-label items among each labelled item's 10 nearest labelled items."""
    if len(labels) < 2:
        return None
    unit = unit_rows(vectors)
    similarity = unit @ unit.T
    np.fill_diagonal(similarity, -np.inf)
    k = min(TOP_K, len(labels) - 1)
    nearest = np.argsort(-similarity, axis=1, kind="stable")[:, :k]
    return float((labels[nearest] == labels[:, None]).mean())


def _mean(values: list[float]) -> float | None:
    return round(float(np.mean(values)), 4) if values else None


def evaluate(eval_set: EvalSet, spaces: list[EmbeddingSpace]) -> dict:
    """The metrics of each space (a JSON-able dict; see the module docstring)."""
    trained = _trained(spaces)
    training_labels = {entry["name"].lower() for model in trained.values() for entry in model.labels}
    labels = np.array([label or "" for label in eval_set.labels], dtype=object)
    labelled = labels != ""
    names = sorted({label for label in eval_set.labels if label})
    words = {name: label_words(name) for name in names}
    result = {
        "source": eval_set.source,
        "notes": eval_set.notes,
        "items": len(labels),
        "labelled": int(labelled.sum()),
        "labels": {
            name: {
                "words": words[name],
                "relevant": int((labels == name).sum()),
                "group": "trained" if name.lower() in training_labels else "zero-shot",
            }
            for name in names
        },
        "spaces": {},
    }
    vocabularies: dict[int, tuple[list[str], np.ndarray]] = {}  # tag words, read once per word space
    for space in spaces:
        vectors = unit_rows(eval_set.vectors[space.pk])
        entry: dict = {
            "kind": space.kind,
            "state": space.state,
            "is_trained": space.pk in trained,
            "image_p10": _image_precision(vectors[labelled], labels[labelled]),
        }
        if space.kind == Kind.JOINT:
            if space.word_space_id not in vocabularies:
                vocabularies[space.word_space_id] = selectors.tag_vocabulary(space.word_space)
            tags = vocabularies[space.word_space_id]
            entry.update(_word_metrics(space, vectors, labels, words, result["labels"], tags))
        result["spaces"][space.name] = entry
    return result


def _word_metrics(
    space: EmbeddingSpace,
    vectors: np.ndarray,
    labels: np.ndarray,
    words: dict[str, list[str]],
    info: dict,
    tags: tuple[list[str], np.ndarray],
) -> dict:
    per_label = {}
    for name, name_words in words.items():
        query = queries.word_query(" ".join(name_words), space.word_space).vector if name_words else None
        if query is None:
            continue
        order = np.argsort(-(vectors @ query), kind="stable")
        relevant = labels == name
        per_label[name] = {
            "p10": round(_precision_at(relevant, order, TOP_K), 4),
            "r_precision": round(_precision_at(relevant, order, int(relevant.sum())), 4),
        }
    groups = {}
    for group in ("trained", "zero-shot", None):
        chosen = [name for name in per_label if group is None or info[name]["group"] == group]
        groups[group or "all"] = {
            "labels": len(chosen),
            "p10": _mean([per_label[name]["p10"] for name in chosen]),
            "r_precision": _mean([per_label[name]["r_precision"] for name in chosen]),
        }
    tag_words, tag_matrix = tags
    hits = []
    for row in np.flatnonzero(labels != ""):
        if words[labels[row]] and len(tag_words):
            top = np.argsort(-(tag_matrix @ vectors[row]))[: settings.TAGS_PER_IMAGE]
            hits.append(bool(set(words[labels[row]]) & {tag_words[i] for i in top}))
    return {"per_label": per_label, **groups, "tag_hit_rate": _mean([float(hit) for hit in hits])}


# --- Comparisons -------------------------------------------------------------------------


@dataclass(frozen=True)
class Verdict:
    better: bool
    reason: str


def verdict(result: dict, candidate: EmbeddingSpace, incumbent: EmbeddingSpace) -> Verdict:
    """Better means a higher mean R-precision over the label words."""
    new, old = (result["spaces"][space.name].get("all", {}).get("r_precision") for space in (candidate, incumbent))
    if new is None or old is None:
        return Verdict(False, "no labelled items to compare them on.")
    count = result["spaces"][candidate.name]["all"]["labels"]
    reason = (
        f"mean R-precision {new:.3f} against {old:.3f} for {incumbent.name}, "
        f"over {count} label words on {result['items']} items"
    )
    return Verdict(new > old, reason)


def compare_on_catalogue(candidate: EmbeddingSpace, incumbent: EmbeddingSpace) -> Verdict:
    spaces = [candidate, incumbent]
    return verdict(evaluate(catalogue_set(spaces), spaces), candidate, incumbent)


def evaluate_model(model: JointModel) -> dict:
    """Evaluate a trained space against the active joint space and the zero-shot one, store the
    report with the model, and its numbers and verdict in its metrics."""
    active = selectors.active_space(Kind.JOINT)
    conse = EmbeddingSpace.objects.filter(
        name=EmbeddingSpace.conse_name(model.image_space.name, model.space.word_space)
    ).first()
    spaces = [model.space] + [s for s in (active, conse) if s is not None and s.pk != model.space.pk]
    spaces = list(dict.fromkeys(spaces)) + [model.image_space]
    eval_set = catalogue_set(spaces)
    result = evaluate(eval_set, spaces)
    model.report.save(
        f"{model.space.name.replace('/', '-')}.html",
        ContentFile(render_report(result, eval_set, spaces).encode()),
        save=False,
    )
    summary = {name: {k: v for k, v in entry.items() if k != "per_label"} for name, entry in result["spaces"].items()}
    model.metrics = {**model.metrics, "evaluation": summary, "evaluated_items": result["items"]}
    if active is not None and active.pk != model.space.pk:
        decision = verdict(result, model.space, active)
        model.metrics.update(
            better=decision.better, verdict=("better: " if decision.better else "not better: ") + decision.reason
        )
    model.save(update_fields=["report", "metrics"])
    return result


# --- The report --------------------------------------------------------------------------


def _png(figure) -> str:
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=90, bbox_inches="tight")
    plt.close(figure)
    return f'<img alt="" src="data:image/png;base64,{base64.b64encode(buffer.getvalue()).decode()}">'


def _jpeg_tag(data: bytes | None, title: str = "") -> str:
    if not data:
        return "<span>—</span>"
    return (
        f'<img class="thumb" title="{html.escape(title)}" alt="{html.escape(title)}" '
        f'src="data:image/jpeg;base64,{base64.b64encode(_small_jpeg(PILImage.open(io.BytesIO(data)), 72)).decode()}">'
    )


def _number(value) -> str:
    return "—" if value is None else f"{value:.3f}"


def render_report(result: dict, eval_set: EvalSet, spaces: list[EmbeddingSpace]) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    joint = [space for space in spaces if space.kind == Kind.JOINT]
    trained = _trained(spaces)
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'><title>Evaluation</title><style>"
        "body{font-family:system-ui,sans-serif;margin:2em;max-width:1200px}table{border-collapse:collapse}"
        "td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}th:first-child,td:first-child{text-align:left}"
        ".thumb{height:56px;margin:1px;border-radius:3px}</style></head><body>",
        "<h1>Evaluation of embedding spaces</h1>",
        f"<p>On {html.escape(result['source'])}: {result['items']} items, {result['labelled']} labelled, "
        f"{len(result['labels'])} label words. Generated {timezone.now():%Y-%m-%d %H:%M} UTC.</p>",
        *(f"<p><em>{html.escape(note)}</em></p>" for note in result["notes"]),
        "<h2>Summary</h2><table><tr><th>space</th><th>state</th><th>P@10 (all)</th><th>R-prec (all)</th>"
        "<th>R-prec (training labels)</th><th>R-prec (zero-shot labels)</th><th>tag hit rate</th>"
        "<th>image→image P@10</th></tr>",
    ]
    for name, entry in result["spaces"].items():
        get = lambda group, key, entry=entry: entry.get(group, {}).get(key)  # noqa: E731
        parts.append(
            f"<tr><td>{html.escape(name)}</td><td>{entry['state']}</td><td>{_number(get('all', 'p10'))}</td>"
            f"<td>{_number(get('all', 'r_precision'))}</td><td>{_number(get('trained', 'r_precision'))}</td>"
            f"<td>{_number(get('zero-shot', 'r_precision'))}</td><td>{_number(entry.get('tag_hit_rate'))}</td>"
            f"<td>{_number(entry['image_p10'])}</td></tr>"
        )
    parts.append("</table>")

    if trained:
        parts.append("<h2>Training curves</h2>")
        figure, axes = plt.subplots(1, len(trained), figsize=(5 * len(trained), 3), squeeze=False)
        for axis, model in zip(axes[0], trained.values(), strict=True):
            epochs = [record["epoch"] for record in model.history]
            axis.plot(epochs, [record["train_loss"] for record in model.history], label="training loss")
            axis.plot(epochs, [record["val_loss"] for record in model.history], label="validation loss")
            if model.metrics.get("best_epoch"):
                axis.axvline(model.metrics["best_epoch"], color="grey", linestyle=":", label="kept")
            axis.set_title(model.space.name, fontsize=9)
            axis.set_xlabel("epoch")
            axis.legend(fontsize=8)
        parts.append(_png(figure))

    names = sorted(result["labels"], key=lambda name: -result["labels"][name]["relevant"])
    if names and joint:
        charted = names[:CHART_LABELS]  # a chart of a thousand labels is an empty strip
        shown = f"The {len(charted)} of {len(names)} labels with most relevant items; all in the table. "
        parts.append(
            f"<h2>Per label word: R-precision</h2><p>{shown if len(charted) < len(names) else ''}"
            "* a word no compared model was trained on; (n) relevant items.</p>"
        )
        figure, axis = plt.subplots(figsize=(max(6, 0.6 * len(charted) * len(joint)), 3.5))
        width = 0.8 / len(joint)
        for number, space in enumerate(joint):
            per_label = result["spaces"][space.name]["per_label"]
            values = [per_label.get(name, {}).get("r_precision", 0) for name in charted]
            axis.bar(np.arange(len(charted)) + number * width, values, width, label=space.name)
        axis.set_xticks(np.arange(len(charted)) + 0.4 - width / 2)
        star = {name: "*" if result["labels"][name]["group"] == "zero-shot" else "" for name in charted}
        ticks = [f"{name}{star[name]} ({result['labels'][name]['relevant']})" for name in charted]
        axis.set_xticklabels(ticks, rotation=60, ha="right", fontsize=8)
        axis.set_ylim(0, 1)
        axis.legend(fontsize=8)
        parts.append(_png(figure))
        parts.append(
            "<table><tr><th>label (words)</th><th>relevant</th>"
            + "".join(f"<th>{html.escape(s.name)}<br>P@10 / R-prec</th>" for s in joint)
            + "</tr>"
        )
        for name in names:
            cells = "".join(
                f"<td>{_number(result['spaces'][s.name]['per_label'].get(name, {}).get('p10'))} / "
                f"{_number(result['spaces'][s.name]['per_label'].get(name, {}).get('r_precision'))}</td>"
                for s in joint
            )
            info = result["labels"][name]
            parts.append(
                f"<tr><td>{html.escape(name)} ({html.escape(' '.join(info['words']))})"
                f"{'*' if info['group'] == 'zero-shot' else ''}</td><td>{info['relevant']}</td>{cells}</tr>"
            )
        parts.append("</table>")

    if joint:
        parts.append(_map(plt, result, eval_set, joint))
        parts.append(_examples(eval_set, joint, names[:6]))
    parts.append("</body></html>")
    return "\n".join(parts)


def _map(plt, result: dict, eval_set: EvalSet, joint: list[EmbeddingSpace]) -> str:
    """PCA (numpy SVD) of each joint space's vectors, drawn with thumbnails framed by label colour."""
    from matplotlib.offsetbox import AnnotationBbox, OffsetImage

    rows = sorted(range(len(eval_set.keys)), key=lambda row: eval_set.labels[row] is None)[:MAP_ITEMS]
    if len(rows) < 3:
        return ""
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
                box = AnnotationBbox(
                    OffsetImage(np.asarray(picture), zoom=1),
                    (x, y),
                    frameon=True,
                    bboxprops={"edgecolor": colour, "linewidth": 2},
                    pad=0.1,
                )
                axis.add_artist(box)
        axis.set_title(space.name, fontsize=9)
        axis.set_xticks([])
        axis.set_yticks([])
    handles = [plt.Line2D([], [], color=colours[name], linewidth=4, label=name) for name in names]
    if handles:
        figure.legend(handles=handles, loc="lower center", ncol=min(len(handles), 8), fontsize=8)
    return f"<h2>Map of the vectors (PCA, {len(rows)} items; frame colour = label, grey = unlabelled)</h2>" + _png(
        figure
    )


def _examples(eval_set: EvalSet, joint: list[EmbeddingSpace], label_names: list[str]) -> str:
    """The top results of a few queries in each space: label words, then words nobody labelled."""
    words = [" ".join(label_words(name)) for name in label_names] + list(EXAMPLE_WORDS)
    parts = [
        "<h2>Example queries (top 6)</h2><table><tr><th>query</th>"
        + "".join(f"<th>{html.escape(space.name)}</th>" for space in joint)
        + "</tr>"
    ]
    for text in dict.fromkeys(word for word in words if word):
        cells = []
        for space in joint:
            query = queries.word_query(text, space.word_space).vector
            if query is None:
                cells.append("<td>unknown words</td>")
                continue
            order = np.argsort(-(unit_rows(eval_set.vectors[space.pk]) @ query), kind="stable")[:6]
            cells.append(
                "<td>"
                + "".join(
                    _jpeg_tag(eval_set.thumbnail(row), str(eval_set.labels[row] or "unlabelled")) for row in order
                )
                + "</td>"
            )
        parts.append(f"<tr><td>{html.escape(text)}</td>{''.join(cells)}</tr>")
    parts.append("</table>")
    return "".join(parts)
