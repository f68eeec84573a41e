"""Writes of learning: a trained model's evaluation and report, and the cut-over to its space."""

from __future__ import annotations

from django.conf import settings
from django.core.files.base import ContentFile

from learning import evaluation, report
from spaces import selectors
from spaces.models import EmbeddingSpace, JointModel
from spaces.services import SpaceRefused, activate_space

Kind = EmbeddingSpace.Kind
State = EmbeddingSpace.State


def switch_to(space: EmbeddingSpace, *, require_improvement: bool | None = None) -> None:
    """Activate a filled space (the admin's and `train_joint_model --activate`'s cut-over).

    With JOINT_ACTIVATION_REQUIRES_IMPROVEMENT, a joint space must beat the active one on the
    evaluation of the catalogue (mean R-precision of the label words); SpaceRefused says why not.
    """
    if space.state == State.ACTIVE:
        return
    if space.state == State.BUILDING:
        raise SpaceRefused(f"{space.name} is still filling; it can be activated once all its vectors are in.")
    if require_improvement is None:
        require_improvement = settings.JOINT_ACTIVATION_REQUIRES_IMPROVEMENT
    active = selectors.active_space(space.kind)
    if require_improvement and space.kind == Kind.JOINT and active is not None:
        verdict = evaluation.compare_on_catalogue(space, active)
        if not verdict.better:
            raise SpaceRefused(f"{space.name} does not beat {active.name} on evaluate: {verdict.reason}")
    activate_space(space)


def evaluate_model(model: JointModel) -> dict:
    """Evaluate a trained space against the active joint space and the zero-shot one, store the
    report with the model, and its numbers and verdict in its metrics."""
    active = selectors.active_space(Kind.JOINT)
    conse = EmbeddingSpace.objects.filter(
        name=EmbeddingSpace.conse_name(model.image_space.name, model.space.word_space)
    ).first()
    spaces = [model.space] + [s for s in (active, conse) if s is not None and s.pk != model.space.pk]
    spaces = list(dict.fromkeys(spaces)) + [model.image_space]
    eval_set = evaluation.catalogue_set(spaces)
    result = evaluation.evaluate(eval_set, spaces)
    model.report.save(
        f"{model.space.name.replace('/', '-')}.html",
        ContentFile(report.render_report(result, eval_set, spaces).encode()),
        save=False,
    )
    summary = {name: {k: v for k, v in entry.items() if k != "per_label"} for name, entry in result["spaces"].items()}
    model.metrics = {**model.metrics, "evaluation": summary, "evaluated_items": result["items"]}
    if active is not None and active.pk != model.space.pk:
        decision = evaluation.verdict(result, model.space, active)
        model.metrics.update(
            better=decision.better, verdict=("better: " if decision.better else "not better: ") + decision.reason
        )
    model.save(update_fields=["report", "metrics"])
    return result
