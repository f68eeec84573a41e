"""Readable titles from file names (pure functions)."""

from __future__ import annotations

import pytest

from catalog.titles import display_title, title_from_filename


@pytest.mark.parametrize(
    ("filename", "title"),
    [
        ("997722733_0cb5439472.jpg", ""),
        ("n02108000_EntleBucher.JPEG", "EntleBucher"),
        ("IMG_20190704_181512.jpg", ""),
        ("DSC01234.JPG", ""),
        ("my-cat.png", "my cat"),
        ("golden_retriever-puppy 2.jpg", "golden retriever puppy 2"),
        ("apollo 11 launch.png", "apollo 11 launch"),
        ("3f2a9c1e-77b0-4c2e-9d1a-5b6f0e8a7c21.webp", ""),
        ("beach_2019_a1b2c3d4e5.jpg", "beach 2019"),
        ("facade.jpg", "facade"),
        ("12.png", ""),
    ],
)
def test_title_from_filename_keeps_the_words(filename: str, title: str) -> None:
    assert title_from_filename(filename) == title


def test_an_item_without_a_title_is_named_by_its_tags_then_its_category() -> None:
    tags = [{"word": "dog", "score": 0.9}, {"word": "grass", "score": 0.5}, {"word": "ball", "score": 0.2}]
    assert display_title("Rex", tags=tags, category_name="Pets") == "Rex"
    assert display_title("", tags=tags, category_name="Pets") == "Dog, grass"
    assert display_title(" ", tags=[], category_name="Pets") == "Pets"
    assert display_title("", tags=[], category_name="") == "Untitled image"
