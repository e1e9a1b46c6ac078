"""Training: the training configuration and the training session."""

from __future__ import annotations

from workbench.training.config import TrainingConfig
from workbench.training.session import TrainingResult, TrainingSession

__all__ = ["TrainingConfig", "TrainingResult", "TrainingSession"]
