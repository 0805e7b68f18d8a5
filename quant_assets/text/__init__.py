"""Text embeddings and text latents: an offline sentence-embedding model, a content-addressed
embedding cache, projections fitted only on the past, and per-5m-bucket pooling."""
