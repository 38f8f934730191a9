"""PyTorch building blocks and one training loop, shared by the MLP family and NAS. torch loads lazily."""
from __future__ import annotations

from forgeml.nn.estimator import TorchMLPClassifier, TorchMLPRegressor
from forgeml.nn.modules import ACTIVATIONS, build_mlp
from forgeml.nn.trainer import TrainResult, pick_device, train_module

__all__ = ["ACTIVATIONS", "TorchMLPClassifier", "TorchMLPRegressor", "TrainResult", "build_mlp", "pick_device",
           "train_module"]
