"""The method: BatchEnsemble layers, models, the training loop, metrics, devices."""
