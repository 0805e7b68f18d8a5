"""Forward-return labels: horizons, trading costs and the label computation (pure polars)."""
