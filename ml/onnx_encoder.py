"""The encoders in ONNX Runtime: no torch in the process that runs them.

A model is exported once (with torch, in whichever process first needs it, or by
`manage.py prepare_models` at deploy time) into a folder of the model directory, then
loaded from there by every process.
"""

from __future__ import annotations

import fcntl
import json
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import onnxruntime as ort
from PIL import Image

from ml.encoding import Encoding
from ml.images import model_input

FILES = ("model.onnx", "classifier.npy", "meta.json")

# Images per session run. EfficientNet-Lite0 ran fastest per image in runs of 1 to 4 on 2 cores
# (13 ms each, one thread); runs of 16 took 19-20 ms each (their activations outgrow the CPU
# caches) and 100 MB more memory.
RUN_SIZE = 4


class OnnxEncoder:
    def __init__(self, directory: Path, *, threads: int = 0) -> None:
        """`threads`: ONNX Runtime's intra-op threads; 0 is its default, one per physical core."""
        meta = json.loads((directory / "meta.json").read_text())
        self.name: str = meta["name"]
        self.feature_dims: int = meta["feature_dims"]
        self._mean, self._std = meta["mean"], meta["std"]
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        # The arena keeps the largest batch's buffers for good: ~90 MB more resident for no speed.
        options.enable_cpu_mem_arena = False
        self._session = ort.InferenceSession(str(directory / "model.onnx"), options, providers=["CPUExecutionProvider"])
        self._classifier = np.load(directory / "classifier.npy")
        self._classifier.setflags(write=False)  # shared by every caller, never copied

    def encode(self, images: Sequence[Image.Image]) -> Encoding:
        features = [np.empty((0, self.feature_dims), dtype=np.float32)]
        logits = [np.empty((0, self._classifier.shape[0]), dtype=np.float32)]
        for start in range(0, len(images), RUN_SIZE):
            pixels = model_input(images[start : start + RUN_SIZE], mean=self._mean, std=self._std)
            pooled, scores = self._session.run(["features", "logits"], {"pixels": pixels})
            features.append(pooled)
            logits.append(scores)
        return Encoding(features=np.concatenate(features), logits=np.concatenate(logits))

    def classifier_weights(self) -> np.ndarray:
        return self._classifier


def is_exported(directory: Path) -> bool:
    return all((directory / name).is_file() for name in FILES)


def load_or_export(name: str, model_dir: Path, *, vgg16_weights: str | None = None, threads: int = 0) -> OnnxEncoder:
    """The ONNX encoder `name` from `model_dir`, exported there first if it is not yet."""
    directory = model_dir / name
    if not is_exported(directory):
        model_dir.mkdir(parents=True, exist_ok=True)
        # One exporter at a time across processes; the folder appears whole or not at all.
        with open(model_dir / f".{name}.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if not is_exported(directory):
                from ml.torch_encoders import build_torch_encoder, export_onnx

                staging = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=model_dir))
                try:
                    export_onnx(build_torch_encoder(name, vgg16_weights=vgg16_weights), staging)
                    staging.chmod(0o755)  # mkdtemp's 0700 would hide it from other users' processes
                    shutil.rmtree(directory, ignore_errors=True)
                    staging.rename(directory)
                finally:
                    shutil.rmtree(staging, ignore_errors=True)
    return OnnxEncoder(directory, threads=threads)
