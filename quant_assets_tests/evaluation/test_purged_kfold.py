"""Purged k-fold with embargo: no train label touches its test fold, the embargo gap
holds, exactly the rows that must go are dropped, and a plain k-fold is caught leaking."""

from __future__ import annotations

import numpy as np
import pytest

from quant_assets.evaluation.purged_kfold import Fold, purged_kfold

FIVE_MIN = np.timedelta64(5, "m")
HOUR = np.timedelta64(1, "h")


def decision_rows(days: int, horizon=HOUR):
    t = np.datetime64("2025-10-01T00:05") + FIVE_MIN * np.arange(288 * days)
    return t, t + horizon


def leaks(t, end, fold: Fold, embargo) -> list[str]:
    """Every way a train row could see its test fold: label overlap, or inside the embargo."""
    t0, t1 = t[fold.test[0]], end[fold.test].max()
    found = []
    for i in fold.train:
        if t[i] <= t1 and end[i] >= t0:
            found.append(f"row {i}: label [{t[i]}, {end[i]}] overlaps test [{t0}, {t1}]")
        elif t1 < t[i] <= t1 + embargo:
            found.append(f"row {i}: inside the embargo after {t1}")
    return found


def test_no_train_label_overlaps_its_test_fold_and_the_embargo_holds():
    t, end = decision_rows(5)
    embargo = 2 * HOUR
    folds = purged_kfold(t, end, n_splits=5, embargo=embargo)
    assert len(folds) == 5
    assert np.array_equal(np.concatenate([f.test for f in folds]), np.arange(t.size))
    for k, fold in enumerate(folds):
        assert leaks(t, end, fold, embargo) == []
        assert not np.intersect1d(fold.train, fold.test).size
        dropped = t.size - fold.test.size - fold.train.size
        # 1h labels on a 5m grid: 12 rows before the fold reach into it; after it, the
        # 12 rows up to its last label's end and 24 more of embargo.
        before = 12 if k > 0 else 0
        after = 12 + 24 if k < 4 else 0
        assert dropped == before + after


def test_a_plain_kfold_leaks_and_the_check_says_where():
    t, end = decision_rows(2, horizon=np.timedelta64(4, "h"))
    test = np.arange(200, 300)
    plain = Fold(train=np.setdiff1d(np.arange(t.size), test), test=test)
    found = leaks(t, end, plain, embargo=HOUR)
    assert len(found) == 48 + 48 + 12  # 4h of labels before, 4h after, 1h of embargo
    assert found[0].startswith("row 152: label")


def test_works_on_plain_numbers_and_refuses_bad_input():
    t = np.arange(20)
    folds = purged_kfold(t, t + 2, n_splits=4, embargo=1)
    assert folds[1].test.tolist() == [5, 6, 7, 8, 9]
    assert folds[1].train.tolist() == [0, 1, 2, *range(13, 20)]
    with pytest.raises(ValueError, match="n_splits=1"):
        purged_kfold(t, t + 2, n_splits=1, embargo=0)
    with pytest.raises(ValueError, match="strictly increasing"):
        purged_kfold(t[::-1], t[::-1] + 2, n_splits=2, embargo=0)
    with pytest.raises(ValueError, match="row 3 has a label ending before it starts"):
        purged_kfold(t, np.where(t == 3, 0, t + 2), n_splits=2, embargo=0)
