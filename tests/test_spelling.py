"""Spelling help and suggestions, on the real GloVe frequency order."""

from __future__ import annotations

import pytest

from ml.spelling import corrections, picture_names, priority_words, suggestions


@pytest.fixture(scope="module")
def words(glove) -> list[str]:
    return priority_words([], glove.words[:50_000], picture_names())


@pytest.mark.parametrize(
    ("typed", "meant"), [("dgo", "dog"), ("bycicle", "bicycle"), ("ocaen", "ocean"), ("hrose", "horse")]
)
def test_common_misspellings(words: list[str], typed: str, meant: str) -> None:
    assert corrections(typed, words)[0] == meant


def test_known_words_are_not_corrected(words: list[str]) -> None:
    assert corrections("dog", words) == [] and corrections("", words) == []


def test_suggestions_prefer_picture_words_then_frequency(words: list[str]) -> None:
    assert "dog" in suggestions("do", words, 3)
    assert suggestions("sof", words, 1) == ["sofa"]
    assert suggestions("sof", priority_words(["sofia"], words), 1) == ["sofia"]  # the catalogue's own first
