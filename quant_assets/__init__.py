"""quant_assets: a Dagster platform for point-in-time crypto quant research."""
