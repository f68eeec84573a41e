"""Fixed word queries of people, scenes, activities and objects, and which dev photos they are for.

A Flickr photo is relevant when at least 2 of its 5 captions contain every query word (after a
crude stemming that folds plurals and -ing forms: dogs -> dog, running -> run, children -> child).
An ImageNet dev photo is relevant when every query word names (in WordNet) a kind its class
belongs to: "dog" finds the dog breeds, "dog running" no ImageNet photo.
"""

from __future__ import annotations

import re

import numpy as np

from ml.hierarchy import load_hierarchy

PEOPLE = ["man", "woman", "boy", "girl", "child", "baby", "people", "crowd", "player", "biker", "climber", "skier"]
SCENES = ["beach", "snow", "water", "grass", "street", "mountain", "field", "park", "ocean", "city", "lake", "pool"]
SCENES += ["wave", "sand", "rock"]
ACTIVITIES = ["running", "jumping", "swimming", "climbing", "playing", "riding", "sitting", "walking", "skiing"]
OBJECTS = ["dog", "ball", "bicycle", "horse", "car", "bench", "hat", "shirt", "surfer"]
ONE_WORD = (*PEOPLE, *SCENES, *ACTIVITIES, *OBJECTS)
TWO_WORD = (
    *("black dog", "white dog", "brown dog", "dog water", "dog snow", "dog grass", "dog ball", "dog beach"),
    *("man bicycle", "boy pool", "girl beach", "people street", "children playing", "man climbing", "red shirt"),
    *("boy ball", "child water", "woman street", "man rock", "dog running"),
)
QUERIES = (*ONE_WORD, *TWO_WORD)

_IRREGULAR = {"children": "child", "men": "man", "women": "woman", "kids": "kid", "feet": "foot"}
_WORD = re.compile(r"[a-z]+")


def stem(word: str) -> str:
    """dogs -> dog, running -> run, rides -> rid(e), beaches -> beach; enough to match captions."""
    word = _IRREGULAR.get(word, word)
    if word.endswith("ing") and len(word) > 5:
        word = word[:-3]
        if len(word) > 2 and word[-1] == word[-2]:
            word = word[:-1]  # runn -> run
    elif word.endswith("ies") and len(word) > 4:
        word = word[:-3] + "y"
    elif word.endswith(("ches", "shes", "sses", "xes")):
        word = word[:-2]
    elif word.endswith("s") and not word.endswith("ss") and len(word) > 3:
        word = word[:-1]
    return word.removesuffix("e") if len(word) > 3 else word


def relevant_flickr(query: str, captions: list[list[str]]) -> np.ndarray:
    wanted = {stem(word) for word in query.split()}
    return np.array(
        [sum(wanted <= {stem(w) for w in _WORD.findall(c.lower())} for c in five) >= 2 for five in captions]
    )


def relevant_imagenet(query: str, classes: np.ndarray) -> np.ndarray:
    hierarchy = load_hierarchy()
    named = [hierarchy.classes_named(word) for word in query.split()]
    return np.array([all(int(c) in group for group in named) for c in classes])


def precision_at_10(scores: np.ndarray, relevant: np.ndarray) -> float:
    return float(relevant[np.argsort(-scores, kind="stable")[:10]].mean())
