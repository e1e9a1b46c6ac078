"""``TrainingConfig``: the experiment's "training" section, parsed, checked and turned into
Keras objects (optimizer, loss, metrics, callbacks settings).

The section stays plain JSON data; every problem is a ``FormatError`` at ``training.<key>``
that names the allowed values, so a typo in a file reads as one clear line.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field, fields
from typing import Any

from workbench.backend import keras_module
from workbench.errors import FormatError
from workbench.scale.distribution import parse_distribution
from workbench.training.schedules import check_schedule

# name -> (Keras class name, the optimizer options people set besides the learning rate)
OPTIMIZERS: dict[str, tuple[str, tuple[str, ...]]] = {
    "sgd": ("SGD", ("momentum", "nesterov")),
    "rmsprop": ("RMSprop", ("rho", "momentum")),
    "adagrad": ("Adagrad", ()),
    "adadelta": ("Adadelta", ("rho",)),
    "adam": ("Adam", ("beta_1", "beta_2", "amsgrad")),
    "adamw": ("AdamW", ("weight_decay", "beta_1", "beta_2")),
}
_COMMON_OPTIONS = ("learning_rate", "clipnorm", "clipvalue", "global_clipnorm", "name")

LOSSES = (
    "sparse_categorical_crossentropy", "categorical_crossentropy", "binary_crossentropy",
    "mse", "mae", "huber", "kl_divergence", "hinge", "log_cosh",
)
METRICS = ("accuracy", "mae", "mse", "auc", "precision", "recall", "top_k_categorical_accuracy")
DEVICES_HELP = "'auto' (the GPU when there is one), 'cpu', or 'gpu:N'"


@dataclass
class TrainingConfig:
    """How to train.

    Attributes:
        optimizer: {"name": one of OPTIMIZERS, "learning_rate": float, and that optimizer's
            options (momentum, nesterov, weight_decay, ...), "clipnorm"/"clipvalue"}.
        loss: a Keras loss name.
        metrics: Keras metric names.
        epochs, batch_size: as in ``model.fit``.
        seed: seeds Python, NumPy and the backend; None leaves them random.
        early_stopping: None, or {"monitor", "patience", "restore_best_weights", "min_delta"}.
        reduce_lr: None, or ReduceLROnPlateau's {"monitor", "factor", "patience", "min_lr"}.
        checkpoint_best: keep the weights with the best validation loss as ``best.keras``.
        device: "auto", "cpu" or "gpu:N".
        mixed_precision: compute in float16 with float32 variables (on GPUs that support it).
        schedule: a learning-rate schedule (see the LR lab), or None for a constant rate.
        distribution: "none", "mirrored", "multi-worker", or {"name": "mirrored", "devices":
            ["/gpu:0", "/gpu:1"]}; see ``workbench.scale.distribution`` (batch_size is then
            the global batch, shared by the replicas).
        extra: keys this version does not know, kept so nothing is lost on save.
    """

    optimizer: dict = field(default_factory=lambda: {"name": "adam", "learning_rate": 0.001})
    loss: str = "sparse_categorical_crossentropy"
    metrics: list = field(default_factory=lambda: ["accuracy"])
    epochs: int = 10
    batch_size: int = 64
    seed: int | None = 0
    early_stopping: dict | None = None
    reduce_lr: dict | None = None
    checkpoint_best: bool = True
    device: str = "auto"
    mixed_precision: bool = False
    schedule: dict | None = None
    distribution: str | dict = "none"
    extra: dict = field(default_factory=dict)

    # ------------------------------------------------------------------ JSON
    @classmethod
    def from_dict(cls, data: dict) -> TrainingConfig:
        """Parse and check a training section; raises ``FormatError`` at ``training.<key>``."""
        if not isinstance(data, dict):
            raise FormatError("training", "expected an object")
        known = {f.name for f in fields(cls)} - {"extra"}
        config = cls(**{k: copy.deepcopy(v) for k, v in data.items() if k in known},
                     extra={k: copy.deepcopy(v) for k, v in data.items() if k not in known})
        config.check()
        return config

    def to_dict(self) -> dict:
        """The section as JSON data: defaults that are off are left out."""
        data: dict[str, Any] = {
            "optimizer": copy.deepcopy(self.optimizer), "loss": self.loss,
            "metrics": list(self.metrics), "epochs": self.epochs,
            "batch_size": self.batch_size, "seed": self.seed,
        }
        for key in ("early_stopping", "reduce_lr", "schedule"):
            if getattr(self, key) is not None:
                data[key] = copy.deepcopy(getattr(self, key))
        if not self.checkpoint_best:
            data["checkpoint_best"] = False
        if self.device != "auto":
            data["device"] = self.device
        if self.mixed_precision:
            data["mixed_precision"] = True
        if self.distribution != "none":
            data["distribution"] = copy.deepcopy(self.distribution)
        data.update(copy.deepcopy(self.extra))
        return data

    # ----------------------------------------------------------------- checks
    def check(self) -> None:
        """Raise ``FormatError`` naming the first bad value."""
        _whole(self.epochs, "training.epochs", 1)
        _whole(self.batch_size, "training.batch_size", 1)
        if self.seed is not None:
            _whole(self.seed, "training.seed", 0)
        self._check_optimizer()
        if not isinstance(self.loss, str) or not self.loss:
            raise FormatError("training.loss", f"expected a loss name such as {', '.join(LOSSES[:4])}")
        if not isinstance(self.metrics, list) or not all(isinstance(m, str) for m in self.metrics):
            raise FormatError("training.metrics", "expected a list of metric names, e.g. [\"accuracy\"]")
        for key in ("early_stopping", "reduce_lr", "schedule"):
            value = getattr(self, key)
            if value is not None and not isinstance(value, dict):
                raise FormatError(f"training.{key}", "expected an object, or leave it out")
        if self.early_stopping:
            _whole(self.early_stopping.get("patience", 5), "training.early_stopping.patience", 0)
        if self.reduce_lr:
            factor = self.reduce_lr.get("factor", 0.5)
            if not isinstance(factor, (int, float)) or not 0 < factor < 1:
                raise FormatError("training.reduce_lr.factor", f"must be between 0 and 1 (got {factor!r})")
        check_schedule(self.schedule)
        if self.schedule and self.schedule.get("name", "constant") != "constant" and self.reduce_lr:
            raise FormatError("training.reduce_lr", "a schedule sets the rate of every batch, so "
                              "ReduceLROnPlateau would be overruled: turn one of them off")
        if self.extra.get("adversarial") is not None:
            from workbench.generate.adversarial_training import check_adversarial

            check_adversarial(self.extra["adversarial"])
        if self.extra.get("gan") is not None:
            from workbench.generative.gan import check_gan

            check_gan(self.extra["gan"])
            if self.extra.get("adversarial"):
                raise FormatError("training.gan", "a GAN cannot also use adversarial training: remove one")
        if not isinstance(self.checkpoint_best, bool):
            raise FormatError("training.checkpoint_best", "expected true or false")
        if not isinstance(self.mixed_precision, bool):
            raise FormatError("training.mixed_precision", "expected true or false")
        device = self.device
        if not isinstance(device, str) or not (
            device in ("auto", "cpu") or (device.startswith("gpu:") and device[4:].isdigit())
        ):
            raise FormatError("training.device", f"expected {DEVICES_HELP} (got {device!r})")
        if parse_distribution(self.distribution).distributed and device != "auto":
            raise FormatError("training.device", "a distributed run places its replicas itself: leave "
                              "device at 'auto' and list devices in training.distribution.devices")

    def _check_optimizer(self) -> None:
        where = "training.optimizer"
        if not isinstance(self.optimizer, dict):
            raise FormatError(where, 'expected an object such as {"name": "adam", "learning_rate": 0.001}')
        name = self.optimizer.get("name", "adam")
        if not isinstance(name, str) or name.lower() not in OPTIMIZERS:
            raise FormatError(f"{where}.name", f"must be one of {', '.join(OPTIMIZERS)} (got {name!r})")
        rate = self.optimizer.get("learning_rate", 0.001)
        if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not rate > 0:
            raise FormatError(f"{where}.learning_rate", f"must be a number > 0 (got {rate!r})")
        allowed = set(_COMMON_OPTIONS) | set(OPTIMIZERS[name.lower()][1])
        unknown = sorted(set(self.optimizer) - allowed)
        if unknown:
            raise FormatError(
                f"{where}.{unknown[0]}",
                f"{name} takes {', '.join(sorted(allowed - {'name'}))} (got {unknown[0]!r})",
            )

    # ----------------------------------------------------------- Keras objects
    @property
    def learning_rate(self) -> float:
        return float(self.optimizer.get("learning_rate", 0.001))

    def make_optimizer(self, learning_rate: Any = None):
        """The Keras optimizer; ``learning_rate`` may be a schedule object."""
        keras = keras_module()
        options = {k: v for k, v in self.optimizer.items() if k != "name"}
        if learning_rate is not None:
            options["learning_rate"] = learning_rate
        class_name = OPTIMIZERS[self.optimizer.get("name", "adam").lower()][0]
        return getattr(keras.optimizers, class_name)(**options)

    def check_keras_names(self) -> None:
        """Check loss and metric names against Keras (needs Keras, so not in ``check``)."""
        keras = keras_module()
        try:
            keras.losses.get(self.loss)
        except (ValueError, TypeError):
            raise FormatError("training.loss",
                              f"unknown loss {self.loss!r}; try one of {', '.join(LOSSES)}") from None
        for metric in self.metrics:
            if metric in ("accuracy", "acc"):
                continue
            try:
                keras.metrics.get(metric)
            except (ValueError, TypeError):
                raise FormatError("training.metrics",
                                  f"unknown metric {metric!r}; try one of {', '.join(METRICS)}") from None


def _whole(value: Any, where: str, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise FormatError(where, f"must be a whole number >= {minimum} (got {value!r})")
