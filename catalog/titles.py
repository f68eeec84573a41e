"""Readable titles from file names, and what to call an item that has none. Pure functions."""

from __future__ import annotations

import re
from pathlib import PurePath

_SEPARATORS = re.compile(r"[\s_\-.+~,;()\[\]{}]+")
# Prefixes cameras and phones put before a counter or a date ("IMG_0042", "DSC01234", "PXL_2023…").
_CAMERA_PREFIXES = {"img", "dsc", "dscn", "dscf", "dcim", "pxl", "mvimg", "vid"}
# Long hexadecimal runs (hashes, UUID parts), with at least one digit so that words like "facade" stay.
_HEX_ID = re.compile(r"(?=.*\d)[0-9a-f]{6,}", re.I)
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.I)
MAX_LENGTH = 200


def is_id_like(token: str) -> bool:
    """A token no person would read as a word: a long number, a hash, an id such as WordNet's
    "n02108000", or a camera's prefix. Short numbers ("Apollo 11", "A380") are kept."""
    digits = sum(c.isdigit() for c in token)
    return digits >= 5 or bool(_HEX_ID.fullmatch(token)) or token.lower() in _CAMERA_PREFIXES


def title_from_filename(filename: str) -> str:
    """The words of a file name as a title ("n02108000_EntleBucher.JPEG" → "EntleBucher",
    "my-cat.png" → "my cat"); empty when it has none ("997722733_0cb5439472.jpg", "IMG_0042.jpg")."""
    tokens = [t for t in _SEPARATORS.split(_UUID.sub(" ", PurePath(filename).stem)) if t and not is_id_like(t)]
    if not any(any(c.isalpha() for c in t) for t in tokens):
        return ""
    return " ".join(tokens)[:MAX_LENGTH].strip()


def display_title(title: str, *, tags: list[dict], category_name: str) -> str:
    """What to call an item where a title would be: its title, else its best tags, else its
    category, so that a list never shows an empty name."""
    if title.strip():
        return title
    words = [tag["word"] for tag in tags[:2] if tag.get("word")]
    if words:
        return ", ".join(words).capitalize()
    return category_name or "Untitled image"
