"""MLflow glue: where the store is, how models are named, logging fits, and the registry's aliases."""
