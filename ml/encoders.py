"""Image encoders: pooled CNN features plus ImageNet logits in one forward pass.

Two runtimes serve the same models: ONNX Runtime (the default: faster on CPU, and processes
that use it never load torch) and torch eager mode. Neither is imported until a model is built,
so processes that never encode (the Celery parent, most web requests, management commands)
stay small.
"""

from __future__ import annotations

import functools
from pathlib import Path

from ml.encoding import ImageEncoder

ENCODER_NAMES = ("efficientnet_lite0", "vgg16")
RUNTIMES = ("onnx", "torch")


@functools.cache
def get_encoder(
    name: str,
    *,
    runtime: str = "onnx",
    model_dir: Path | None = None,
    vgg16_weights: str | None = None,
    threads: int = 0,
) -> ImageEncoder:
    """The process-wide encoder called `name` in `runtime`; models are large, so each is built once.

    `threads` (0: the runtime's default, one per core) sizes ONNX Runtime's thread pool, or torch's
    (process-wide) for the torch runtime.

    The ONNX runtime runs a model exported into `model_dir` (exported there with torch on first
    need, see `ml.onnx_encoder`); both runtimes give the same vectors to about 1e-5.
    """
    if name not in ENCODER_NAMES:
        raise ValueError(f"Unknown encoder {name!r}; valid names are: {', '.join(ENCODER_NAMES)}.")
    if runtime == "torch":
        import torch

        from ml.torch_encoders import build_torch_encoder

        if threads:
            torch.set_num_threads(threads)
        return build_torch_encoder(name, vgg16_weights=vgg16_weights)
    if runtime == "onnx":
        from ml.onnx_encoder import load_or_export

        if model_dir is None:
            raise ValueError("The ONNX runtime needs a model_dir to keep its exported models in.")
        return load_or_export(name, Path(model_dir), vgg16_weights=vgg16_weights, threads=threads)
    raise ValueError(f"Unknown runtime {runtime!r}; valid runtimes are: {', '.join(RUNTIMES)}.")
