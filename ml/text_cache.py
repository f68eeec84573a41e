"""Sentence embeddings of texts, kept on disk by text: a retraining embeds only the texts that are new.

One .npz per model under a folder (MODEL_DIR/text-embeddings in the product): the texts' SHA-256
keys and their vectors, in memory once read. Written whole through a temporary file and a rename,
so another process never reads half of it; the worst a race costs is embedding some texts again.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from ml.cache_files import write_atomically

Embed = Callable[[Sequence[str]], np.ndarray]


def text_key(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:32]


class TextEmbeddings:
    def __init__(self, folder: Path, model_id: str, embed: Embed) -> None:
        self.path = Path(folder) / f"{model_id}.npz"
        self._embed = embed
        self._lock = threading.Lock()
        self._vectors: dict[str, np.ndarray] | None = None

    def _load(self) -> dict[str, np.ndarray]:
        if self._vectors is None:
            self._vectors = {}
            if self.path.exists():
                with np.load(self.path) as saved:
                    self._vectors = dict(zip(saved["keys"].tolist(), saved["vectors"], strict=True))
        return self._vectors

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """(len(texts), dims) unit vectors; only texts never embedded before run the encoder."""
        with self._lock:
            vectors = self._load()
            keys = [text_key(text) for text in texts]
            missing = list(dict.fromkeys(text for text, key in zip(texts, keys, strict=True) if key not in vectors))
            if missing:
                for text, vector in zip(missing, self._embed(missing), strict=True):
                    vectors[text_key(text)] = vector.astype(np.float32)
                self._save(vectors)
            if not texts:
                return np.zeros((0, 0), dtype=np.float32)
            return np.stack([vectors[key] for key in keys])

    def _save(self, vectors: dict[str, np.ndarray]) -> None:
        keys, rows = np.array(list(vectors)), np.stack(list(vectors.values()))
        write_atomically(self.path, lambda staging: np.savez(staging, keys=keys, vectors=rows))
