"""Pure pre-trade risk checks; the batch runner records their reason codes in the ledger."""
