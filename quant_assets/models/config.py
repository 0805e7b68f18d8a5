"""Training settings shared by both model families (fixed seeds: the same inputs give the same model)."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from quant_assets.evaluation.strategy import DEFAULT_ROUND_TRIP_COST


@dataclass(frozen=True)
class TrainingConfig:
    seed: int = 7
    # One thread: on a shared 2-core machine two OpenMP threads spin at every barrier and a fit
    # ran 8-16x slower (benchmarks/bench_training.py); one costs ~10% on a quiet one.
    threads: int = 1
    valid_fraction: float = 0.2  # time-ordered validation tail of the fit window, for early stopping
    # LightGBM, one booster per horizon
    lgbm_rounds: int = 400
    lgbm_learning_rate: float = 0.05
    lgbm_num_leaves: int = 15
    lgbm_min_data_in_leaf: int = 200
    # Rounds without a better validation score before a booster stops. Most boosters here are
    # best within 15-70 rounds (noisy targets), so the patience was most of their rounds: 40
    # was about two thirds of every booster's time for the same best iteration in most fits.
    lgbm_early_stopping: int = 20
    # the multi-head net
    nn_epochs: int = 12  # at most
    nn_patience: int = 4  # epochs without a better validation loss before the net stops (best epoch kept)
    nn_batch: int = 512
    nn_hidden: int = 64
    nn_text_hidden: int = 32
    nn_learning_rate: float = 1e-3
    nn_weight_decay: float = 1e-4
    text_dropout: float = 0.5  # modality dropout: share of training rows whose text branch is dropped
    # purged k-fold with embargo over the fit window, LightGBM only (quant_assets.models.cv)
    cv_folds: int = 5  # k; below 2, no cross-validation
    # The k-fold runs at the anchors a whole number of these days after CADENCE_EPOCH (28: one
    # weekly refit in four). It is a diagnostic beside the walk-forward, never gated, and at
    # every anchor it was a third of a fit's time (issue 18).
    cv_every_days: int = 28
    cv_round_trip_cost: float = DEFAULT_ROUND_TRIP_COST  # the reference strategy's cost in the folds' PnL

    def params(self) -> dict[str, float | int]:
        return asdict(self)
