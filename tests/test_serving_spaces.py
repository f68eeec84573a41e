"""Searches read the active spaces once every SERVING_SPACES_SECONDS per process, and see a
switch made in their own process at once."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from spaces import selectors, services
from spaces.models import EmbeddingSpace

Kind = EmbeddingSpace.Kind


@pytest.fixture
def cached_spaces(db, settings) -> Iterator[None]:
    """No active image space but the tests' own (the test's transaction restores the others)."""
    EmbeddingSpace.objects.filter(kind=Kind.IMAGE).update(state=EmbeddingSpace.State.RETIRED)
    settings.SERVING_SPACES_SECONDS = 60
    selectors.forget_serving_spaces()
    yield
    selectors.forget_serving_spaces()


def test_searches_read_the_active_spaces_once_and_see_a_switch_at_once(
    db, cached_spaces, django_assert_num_queries, django_capture_on_commit_callbacks
) -> None:
    first = services.register_space(name="cache-first", kind=Kind.IMAGE, model="m", dims=4)
    with django_assert_num_queries(1):
        assert selectors.serving_spaces()[Kind.IMAGE] == first
        assert selectors.serving_spaces()[Kind.IMAGE] == first
    second = services.register_space(name="cache-second", kind=Kind.IMAGE, model="m", dims=4)  # building
    with django_capture_on_commit_callbacks(execute=True):
        services.activate_space(second)
    assert selectors.serving_spaces()[Kind.IMAGE] == second


def test_a_switch_in_another_process_is_seen_within_the_interval(db, cached_spaces, settings) -> None:
    first = services.register_space(name="cache-first", kind=Kind.IMAGE, model="m", dims=4)
    second = services.register_space(name="cache-second", kind=Kind.IMAGE, model="m", dims=4)
    assert selectors.serving_spaces()[Kind.IMAGE] == first
    # Another process switches: this one's copy is not forgotten, it expires.
    EmbeddingSpace.objects.filter(pk=first.pk).update(state=EmbeddingSpace.State.RETIRED)
    EmbeddingSpace.objects.filter(pk=second.pk).update(state=EmbeddingSpace.State.ACTIVE)
    assert selectors.serving_spaces()[Kind.IMAGE] == first  # the old space keeps serving meanwhile
    settings.SERVING_SPACES_SECONDS = 0.05
    time.sleep(0.06)
    assert selectors.serving_spaces()[Kind.IMAGE] == second
