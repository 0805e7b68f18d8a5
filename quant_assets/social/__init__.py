"""Social text: Reddit-style posts and comments, symbol linking, and their quality rules.

Time semantics (see ``../shared/data/README.md``): a text is knowable from its creation
(``available_at = created_at``); its engagement (``score``, ``num_comments``,
``upvote_ratio``) only from when it was observed (``observed_at``, the scrape time).
"""
