"""Training settings shared by both model families (fixed seeds: the same inputs give the same model)."""

from __future__ import annotations

from dataclasses import asdict, dataclass


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
    lgbm_early_stopping: int = 40
    # the multi-head net
    nn_epochs: int = 12
    nn_batch: int = 512
    nn_hidden: int = 64
    nn_text_hidden: int = 32
    nn_learning_rate: float = 1e-3
    nn_weight_decay: float = 1e-4
    text_dropout: float = 0.5  # modality dropout: share of training rows whose text branch is dropped

    def params(self) -> dict[str, float | int]:
        return asdict(self)
