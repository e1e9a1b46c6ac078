"""Data: sources, splits, preprocessing, class weights, augmentation and checks.

``load_dataset(config)`` turns an experiment's "data" section (a ``DataConfig``) into a
``Dataset`` ready for ``model.fit`` (``dataset.fit_arguments(batch_size)``);
``data_warnings`` says what about it will hurt training; ``augmentation_layers`` gives the
Keras layers of the configured augmentation. Keras and TensorFlow are imported only when a
source or a pipeline needs them.
"""

from __future__ import annotations

from workbench.data.augment import augmentation_layers
from workbench.data.checks import data_warnings
from workbench.data.config import AUGMENTATIONS, PREPROCESSING, SOURCES, TASKS, DataConfig
from workbench.data.dataset import Dataset
from workbench.data.load import load_dataset

__all__ = [
    "AUGMENTATIONS",
    "PREPROCESSING",
    "SOURCES",
    "TASKS",
    "DataConfig",
    "Dataset",
    "augmentation_layers",
    "data_warnings",
    "load_dataset",
]
