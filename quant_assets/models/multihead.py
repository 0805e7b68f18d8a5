"""The multi-head net: a shared trunk on bar and derivatives inputs, a text branch, and per
horizon a gated residual ``y_h = base_h + gate_h * delta_h``.

The gate is a learned function of both branches, so the net can turn text down where it is
noise. Modality dropout: during training the text branch of a random share of rows is
switched off (as it is, always, for rows without text), so the base heads must stand alone,
which is what the months before any text was collected need.

Inputs are standardised with means and deviations fitted on the training rows only and
saved with the model; a missing value becomes the mean (0 after standardising) and its
missing flag, an input too, says so. Targets are scaled per horizon by their training
deviation, so the four heads weigh alike in the loss.

Training keeps the epoch with the best loss on the validation tail and stops once
``nn_patience`` epochs have not bettered it (at most ``nn_epochs``): on these windows the best
epoch is mostly the first to fourth, and the epochs after it only cost time.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from quant_assets.features import contract
from quant_assets.labels.horizons import HORIZON_NAMES
from quant_assets.models.config import TrainingConfig
from quant_assets.models.dataset import TrainingSet

STD_FLOOR = 1e-8


def text_masks(columns: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """(the text branch's inputs: text features and flags; the text features alone)."""
    branch = set(contract.source_columns("text"))
    features = set(contract.FEATURES_BY_SOURCE["text"])
    return np.array([c in branch for c in columns]), np.array([c in features for c in columns])


def text_present(x: np.ndarray, text_features: np.ndarray) -> torch.Tensor:
    """[rows, 1]: 1 where any text feature is present; without text the branch is off."""
    present = ~np.isnan(x[:, text_features]).all(axis=1)
    return torch.from_numpy(present.astype(np.float32))[:, None]


@dataclass
class Standardiser:
    mean: np.ndarray
    std: np.ndarray

    @classmethod
    def fit(cls, x: np.ndarray) -> "Standardiser":
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore", RuntimeWarning)  # an all-missing column: mean 0, std 1
            mean = np.nan_to_num(np.nanmean(x, axis=0), nan=0.0)
            std = np.nan_to_num(np.nanstd(x, axis=0), nan=1.0)
        return cls(mean, np.where(std < STD_FLOOR, 1.0, std))

    def transform(self, x: np.ndarray) -> np.ndarray:
        return np.nan_to_num((x - self.mean) / self.std, nan=0.0).astype(np.float32)


class MultiHeadNet(nn.Module):
    def __init__(self, n_base: int, n_text: int, n_heads: int, hidden: int, text_hidden: int):
        super().__init__()
        self.trunk = nn.Sequential(nn.Linear(n_base, hidden), nn.GELU(), nn.Linear(hidden, hidden), nn.GELU())
        self.text = nn.Sequential(nn.Linear(n_text, text_hidden), nn.GELU())
        self.base_head = nn.Linear(hidden, n_heads)
        self.delta_head = nn.Linear(text_hidden, n_heads)
        self.gate = nn.Linear(hidden + text_hidden, n_heads)

    def forward(self, base: torch.Tensor, text: torch.Tensor, text_on: torch.Tensor) -> torch.Tensor:
        hb, ht = self.trunk(base), self.text(text)
        gate = torch.sigmoid(self.gate(torch.cat([hb, ht], dim=1)))
        return self.base_head(hb) + text_on * gate * self.delta_head(ht)


@dataclass
class FittedNet:
    net: MultiHeadNet
    scaler: Standardiser
    text_mask: np.ndarray  # the text branch's inputs
    text_features: np.ndarray  # the text features among them (their presence turns the branch on)
    target_scale: np.ndarray  # [heads]

    def predict(self, x: np.ndarray) -> np.ndarray:
        """[rows, heads] predicted gross log returns."""
        z = self.scaler.transform(x)
        base, text = torch.from_numpy(z[:, ~self.text_mask]), torch.from_numpy(z[:, self.text_mask])
        with torch.no_grad():
            self.net.eval()
            out = self.net(base, text, text_present(x, self.text_features))
        return out.numpy().astype(np.float64) * self.target_scale


def fit_net(data: TrainingSet, train: np.ndarray, valid: np.ndarray, config: TrainingConfig) -> tuple[FittedNet, dict[str, float]]:
    """Masked MSE over the horizons, Adam, best epoch on the validation tail."""
    torch.manual_seed(config.seed)
    threads = torch.get_num_threads()
    torch.set_num_threads(config.threads)
    try:
        return _fit_net(data, train, valid, config)
    finally:
        torch.set_num_threads(threads)  # the process's setting, not ours to keep


def _fit_net(data: TrainingSet, train: np.ndarray, valid: np.ndarray, config: TrainingConfig) -> tuple[FittedNet, dict[str, float]]:
    rows = train.any(axis=1)
    text_mask, text_features = text_masks(data.columns)
    scaler = Standardiser.fit(data.x[rows])
    target_scale = np.array([np.std(data.y[train[:, j], j]) if train[:, j].sum() > 1 else 1.0 for j in range(len(HORIZON_NAMES))])
    target_scale = np.where(target_scale < STD_FLOOR, 1.0, target_scale)
    net = MultiHeadNet(int((~text_mask).sum()), int(text_mask.sum()), len(HORIZON_NAMES), config.nn_hidden, config.nn_text_hidden)
    fitted = FittedNet(net, scaler, text_mask, text_features, target_scale)

    def tensors(select: np.ndarray, mask: np.ndarray):
        z = scaler.transform(data.x[select])
        y = np.nan_to_num(data.y[select] / target_scale, nan=0.0).astype(np.float32)
        return (
            torch.from_numpy(z[:, ~text_mask]),
            torch.from_numpy(z[:, text_mask]),
            text_present(data.x[select], text_features),
            torch.from_numpy(y),
            torch.from_numpy(mask[select].astype(np.float32)),
        )

    def loss_of(batch, text_on):
        base, text, _, y, m = batch
        err = (net(base, text, text_on) - y) ** 2 * m
        return err.sum() / m.sum().clamp(min=1.0)

    train_t = tensors(rows, train)
    valid_rows = valid.any(axis=1)
    valid_t = tensors(valid_rows, valid) if valid_rows.any() else None
    # foreach: one kernel per step for all parameters, not one per parameter (on this net the
    # same numbers to the bit, a fit's predictions checked equal; torch's CPU default is the loop).
    optimiser = torch.optim.AdamW(net.parameters(), lr=config.nn_learning_rate, weight_decay=config.nn_weight_decay, foreach=True)
    generator = torch.Generator().manual_seed(config.seed)
    best, best_state, history = float("inf"), None, []
    n = train_t[0].shape[0]
    # The training tensors side by side: a batch is one gather, not five (the same values;
    # per-batch indexing was a fifth of the net's time at 512 rows a batch).
    packed, widths = torch.cat(train_t, dim=1), [part.shape[1] for part in train_t]
    for _ in range(config.nn_epochs):
        net.train()
        order = torch.randperm(n, generator=generator)
        for start in range(0, n, config.nn_batch):
            idx = order[start : start + config.nn_batch]
            batch = torch.split(packed[idx], widths, dim=1)
            keep = (torch.rand(idx.shape[0], 1, generator=generator) >= config.text_dropout).float()
            loss = loss_of(batch, batch[2] * keep)
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
        if valid_t is None:
            continue
        net.eval()
        with torch.no_grad():
            score = float(loss_of(valid_t, valid_t[2]))
        history.append(score)
        if score < best:
            best, best_state = score, {k: v.clone() for k, v in net.state_dict().items()}
        elif len(history) - 1 - int(np.argmin(history)) >= config.nn_patience:
            break  # early stopping: the best epoch is kept, as it would be after the last epoch
    if best_state is not None:
        net.load_state_dict(best_state)
    metrics = {"mhnet_valid_scaled_mse": best if best_state is not None else float("nan"), "mhnet_epochs": float(len(history) or config.nn_epochs)}
    if history:
        metrics["mhnet_best_epoch"] = float(int(np.argmin(history)) + 1)
    return fitted, metrics
