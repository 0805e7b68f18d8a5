"""Social text: Reddit-style posts and comments, symbol linking, and their quality rules.

Time semantics (see ``../shared/data/README.md``): a text is knowable once a collector could
have read it (``available_at = max(created_at + collection lag, first_seen_at)``, ``text.py``); its engagement (``score``, ``num_comments``,
``upvote_ratio``) only from when it was observed (``observed_at``, the scrape time).
"""
