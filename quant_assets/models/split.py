"""The time-ordered validation tail inside a fit window, purged like the window itself."""

from __future__ import annotations

import numpy as np

from quant_assets.models.dataset import TrainingSet


def validation_split(data: TrainingSet, valid_fraction: float, within: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Boolean [rows, horizons] masks: train rows before the tail whose labels were known
    when the tail starts, and validation rows in the tail. Usable rows only; with ``within``
    (a boolean row mask, e.g. a fold's training part), only those rows, the tail theirs."""
    usable = data.usable if within is None else data.usable & within[:, None]
    order = np.sort(data.t if within is None else data.t[within])
    cut = order[int(len(order) * (1.0 - valid_fraction))] if len(order) else None
    if cut is None:
        return usable, np.zeros_like(usable)
    in_tail = (data.t >= cut)[:, None]
    known_before = data.label_available_at < cut  # NaT compares False
    return usable & ~in_tail & known_before, usable & in_tail
