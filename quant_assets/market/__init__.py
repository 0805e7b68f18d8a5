"""Market data: 5m bars, their schema, pure transforms and quality rules."""
