"""Perpetual-futures data per (UTC day, symbol): funding, mark/basis, OI, long/short, taker flow.

Pure transforms live here (``frame``: schema, availability, missing-slot grid, basis,
as-of reads; ``quality``: check rules; ``files``: freqtrade/ccxt downloads). Paginated
exchange pulls are in ``quant_assets.venues.derivatives``; Dagster glue is in
``quant_assets.assets.derivatives``.
"""
