"""The real model, loaded once per test session (the loader also memoises per process)."""

import hashlib

import numpy as np
import pytest

from quant_assets.text.model import load_encoder


@pytest.fixture(scope="session")
def real_encoder():
    return load_encoder()


class CountingEncoder:
    """A stand-in model: deterministic unit vectors from the text's hash; counts every call."""

    def __init__(self, dimensions: int = 384, version: str = "fake-model@1"):
        self.dimensions = dimensions
        self.model_version = version
        self.calls = 0
        self.texts_encoded = 0
        self.seen: list[str] = []

    def encode(self, texts):
        texts = list(texts)
        if texts:
            self.calls += 1
        self.texts_encoded += len(texts)
        self.seen += texts
        out = np.zeros((len(texts), self.dimensions), dtype=np.float32)
        for i, text in enumerate(texts):
            seed = int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little")
            v = np.random.default_rng(seed).normal(size=self.dimensions)
            out[i] = v / np.linalg.norm(v)
        return out


@pytest.fixture
def counting_encoder():
    return CountingEncoder()
