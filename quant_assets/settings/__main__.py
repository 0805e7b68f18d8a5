"""``python -m quant_assets.settings``: rewrite docs/settings.md's table from the model."""

from quant_assets.settings.docs_table import write_docs

print("docs/settings.md " + ("rewritten from the model" if write_docs() else "already matches the model"))
