"""One execution interface, a paper and a live adapter, and the batch path both share."""
