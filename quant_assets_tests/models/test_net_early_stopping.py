"""The multi-head net stops once ``nn_patience`` epochs have not bettered its validation loss
and keeps its best epoch: the same net as training every epoch, whenever the best epoch came
before the stop."""

from dataclasses import replace

import numpy as np
import torch

from quant_assets.models import dataset
from quant_assets.models.multihead import fit_net
from quant_assets.models.split import validation_split
from quant_assets_tests import fitted_models


def _fit(job, **settings):
    config = replace(job.config, nn_epochs=8, **settings)
    data = dataset.training_set(job.features, job.labels, job.window)
    train, valid = validation_split(data, config.valid_fraction)
    net, metrics = fit_net(data, train, valid, config)
    return data, net, metrics


def test_the_net_stops_after_its_patience_and_keeps_the_best_epoch(seed_cache):
    job = fitted_models.fit_inputs(seed_cache)
    data, full, full_metrics = _fit(job, nn_patience=8)  # never stops early
    _, early, early_metrics = _fit(job, nn_patience=1)
    assert full_metrics["mhnet_epochs"] == 8
    best = int(early_metrics["mhnet_best_epoch"])
    # it ran exactly until one epoch failed to better the best; on this window that is early
    assert early_metrics["mhnet_epochs"] == min(8, best + 1) < 8
    if full_metrics["mhnet_best_epoch"] == best:  # the same best epoch: the same net, bit for bit
        for a, b in zip(full.net.state_dict().values(), early.net.state_dict().values()):
            assert torch.equal(a, b)
        assert early_metrics["mhnet_valid_scaled_mse"] == full_metrics["mhnet_valid_scaled_mse"]
    else:  # training on found a better epoch later: the early net is the best of the epochs it ran
        assert full_metrics["mhnet_best_epoch"] > early_metrics["mhnet_epochs"]
        assert full_metrics["mhnet_valid_scaled_mse"] < early_metrics["mhnet_valid_scaled_mse"]
    assert np.isfinite(early.predict(data.x)).all()
