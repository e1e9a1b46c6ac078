"""Adversarial examples: FGSM, BIM and PGD, targeted or not, and robustness sweeps.

* ``fgsm`` (Goodfellow et al.): one step of size epsilon along the sign of the loss gradient
  (L-infinity), or along the gradient scaled to unit length (L2, the "fast gradient method").
* ``bim`` (Kurakin et al.): ``steps`` such steps of ``step_size``, each followed by projection
  onto the epsilon ball around the original input.
* ``pgd`` (Madry et al.): BIM from a random start inside the ball.

The loss is the cross-entropy of the class scores before softmax/sigmoid (``ScoreHead`` of
``workbench.inspect.score``): a confident softmax has almost no gradient, which would hide a
model's weakness instead of measuring it. Untargeted attacks raise the loss of the true class
(or, without labels, of the predicted class); targeted ones lower the loss of the target.
Every result is clipped to the valid input range (``value_range``) after every step.

All steps of an attack on a batch run as one compiled loop (``gradients.iterate``), compiled
once per model, output and norm; epsilon, step size and step count are tensors, so a sweep over
epsilon does not compile again.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from workbench.backend import keras_module
from workbench.errors import FormatError, WorkbenchError
from workbench.generate import gradients
from workbench.settings import PlainSettings
from workbench.tasks import NullProgress, Progress

METHODS = ("fgsm", "bim", "pgd")
NORMS = ("linf", "l2")
_NORM_NAMES = {"linf": "linf", "l-inf": "linf", "inf": "linf", "l_inf": "linf", "l2": "l2", "2": "l2"}
STEPS_PER_CALL = 10  # a long attack is split into calls of this many steps, to report and cancel
_TINY = 1e-12


@dataclass
class AttackSettings(PlainSettings):
    """How an attack runs (plain data: ``get_config``/``from_config``).

    Attributes:
        method: "fgsm", "bim" or "pgd".
        epsilon: the largest change allowed, in the model's input units, measured with
            ``norm`` over a whole input.
        norm: "linf" (each value moves at most epsilon) or "l2" (the change's length).
        steps: BIM/PGD steps (FGSM takes one).
        step_size: BIM/PGD step length; None: 2.5 * epsilon / steps (Madry et al.).
        random_start: PGD starts from a uniform random point of the ball (BIM never does).
        target: a class to reach (a targeted attack), or None to leave the true class.
        value_range: the valid input values (low, high); every result is clipped to them.
        seed: seeds PGD's random start (None: a new draw).
    """

    method: str = "pgd"
    epsilon: float = 0.03
    norm: str = "linf"
    steps: int = 10
    step_size: float | None = None
    random_start: bool = True
    target: int | None = None
    value_range: tuple[float, float] = (0.0, 1.0)
    seed: int | None = 0

    def __post_init__(self) -> None:
        self.method = str(self.method).lower()
        self.norm = _NORM_NAMES.get(str(self.norm).lower(), str(self.norm))
        self.value_range = tuple(float(v) for v in self.value_range)
        checks = [
            ("method", self.method in METHODS, " or ".join(METHODS)),
            ("epsilon", _number(self.epsilon) and self.epsilon >= 0, "a number >= 0"),
            ("norm", self.norm in NORMS, " or ".join(NORMS)),
            ("steps", isinstance(self.steps, int) and not isinstance(self.steps, bool)
             and self.steps >= 1, "a whole number >= 1"),
            ("step_size", self.step_size is None or (_number(self.step_size) and self.step_size > 0),
             "a number > 0, or null for 2.5 * epsilon / steps"),
            ("random_start", isinstance(self.random_start, bool), "true or false"),
            ("target", self.target is None or (isinstance(self.target, (int, np.integer))
                                               and self.target >= 0), "a class index, or null"),
            ("value_range", len(self.value_range) == 2 and self.value_range[0] < self.value_range[1],
             "[low, high] with low < high"),
        ]
        for name, ok, wanted in checks:
            if not ok:
                raise FormatError(name, f"expected {wanted} (got {getattr(self, name)!r})")

    @property
    def step_count(self) -> int:
        """Steps actually taken: 1 for FGSM."""
        return 1 if self.method == "fgsm" else self.steps

    @property
    def step_length(self) -> float:
        """The step length actually used: epsilon for FGSM."""
        if self.method == "fgsm":
            return float(self.epsilon)
        return float(self.step_size) if self.step_size is not None else 2.5 * self.epsilon / self.steps


@dataclass
class AttackResult:
    """Adversarial examples and what the model made of them.

    Attributes:
        original, adversarial: (N, ...) inputs in the model's units.
        labels: (N,) the classes attacked away from (the true ones, else the predicted ones).
        before, after: (N,) the predicted classes on the original and adversarial inputs.
        confidence_before, confidence_after: (N,) the probability of those predictions.
        probabilities_before, probabilities_after: (N, classes).
        settings: the settings used.
        stopped: True when cancelled: only the inputs finished by then are here.
        notes: things the user should know.
    """

    original: np.ndarray
    adversarial: np.ndarray
    labels: np.ndarray
    before: np.ndarray
    after: np.ndarray
    confidence_before: np.ndarray
    confidence_after: np.ndarray
    probabilities_before: np.ndarray
    probabilities_after: np.ndarray
    settings: AttackSettings
    stopped: bool = False
    notes: list[str] = field(default_factory=list)

    @property
    def perturbation(self) -> np.ndarray:
        return self.adversarial - self.original

    @property
    def success(self) -> np.ndarray:
        """(N,) whether each attack worked: the target reached from another class, or the
        label left. An input already of the target class was not attacked: not a success."""
        if self.settings.target is not None:
            return (self.after == self.settings.target) & (self.labels != self.settings.target)
        return self.after != self.labels

    def norms(self) -> dict[str, np.ndarray]:
        """Each perturbation's L-infinity and L2 length."""
        flat = self.perturbation.reshape(len(self.original), -1)
        return {"linf": np.abs(flat).max(axis=1, initial=0.0), "l2": np.sqrt((flat ** 2).sum(axis=1))}

    def amplified(self) -> np.ndarray:
        """The perturbations scaled for display into [0, 1]: 0.5 is unchanged, 0 and 1 the
        largest change of each input down and up."""
        return amplify(self.perturbation)

    def is_image(self) -> bool:
        """Whether the inputs are pictures (H, W[, 1 or 3 or 4]) that can be shown."""
        shape = self.original.shape[1:]
        return len(shape) == 2 or (len(shape) == 3 and shape[-1] in (1, 3, 4))

    def sheet(self, index: int = 0, class_names=()) -> np.ndarray:
        """Input ``index``'s original, amplified change and adversarial picture side by side,
        each captioned (prediction and confidence; the change's size), as one (H, W, 3)
        picture in [0, 1] to save.

        Raises:
            WorkbenchError: the inputs are not images.
        """
        from workbench.inspect.images import captioned_grid, display_image

        if not self.is_image():
            raise WorkbenchError(f"the model's input {self.original.shape[1:]} is not an image: "
                                 "there is no picture to make")
        low, high = self.settings.value_range

        def shown(values) -> np.ndarray:
            return display_image(np.clip((values - low) / (high - low), 0, 1))

        def named(classes, confidence) -> str:
            c = int(classes[index])
            name = class_names[c] if c < len(class_names) and class_names[c] != str(c) else ""
            return f"{c}{f' {name}' if name else ''} ({100 * float(confidence[index]):.0f}%)"

        norms = self.norms()
        tiles = [shown(self.original[index]), display_image(self.amplified()[index]),
                 shown(self.adversarial[index])]
        captions = [f"original: {named(self.before, self.confidence_before)}",
                    f"change: L-inf {norms['linf'][index]:.3g}, L2 {norms['l2'][index]:.3g}",
                    f"adversarial: {named(self.after, self.confidence_after)}"]
        return captioned_grid(tiles, captions, columns=3, least=160)


def amplify(perturbation: np.ndarray) -> np.ndarray:
    """(N, ...) changes as 0.5 + 0.5 * change / (largest |change| of each input), in [0, 1]."""
    perturbation = np.asarray(perturbation, np.float32)
    flat = perturbation.reshape(len(perturbation), -1)
    largest = np.abs(flat).max(axis=1, initial=0.0)
    scale = np.where(largest > 0, largest, 1.0).reshape((-1,) + (1,) * (perturbation.ndim - 1))
    return np.clip(0.5 + 0.5 * perturbation / scale, 0.0, 1.0).astype(np.float32)


# --------------------------------------------------------------------- the algorithm
def cross_entropy(labels, scores, units: int):
    """Per-sample cross-entropy of class scores before softmax (sigmoid for one unit)."""
    ops = keras_module().ops
    if units == 1:
        target = ops.expand_dims(ops.cast(labels, scores.dtype), -1)
        return ops.binary_crossentropy(target, scores, from_logits=True)[:, 0]
    return ops.sparse_categorical_crossentropy(labels, scores, from_logits=True)


def _per_sample(values, reduce):
    ops = keras_module().ops
    flat = ops.reshape(values, (ops.shape(values)[0], -1))
    return reduce(flat)


def _broadcast(values, like):
    """(N,) values shaped to broadcast against a batch like ``like``."""
    ops = keras_module().ops
    return ops.reshape(values, (-1,) + (1,) * (len(like.shape) - 1))


def step_and_project(norm: str):
    """``update(x, gradient, x0, epsilon, step, low, high) -> x``: one ascent step, then back
    into the epsilon ball around ``x0`` and the valid range [low, high].

    The L-infinity projection clips to [x0 - epsilon, x0 + epsilon] rather than clipping the
    difference, so a step of exactly epsilon (FGSM) lands on the bound bit for bit.
    """
    ops = keras_module().ops

    def linf(x, grad, x0, epsilon, step, low, high):
        moved = x + step * ops.sign(grad)
        return ops.clip(ops.clip(moved, x0 - epsilon, x0 + epsilon), low, high)

    def l2(x, grad, x0, epsilon, step, low, high):
        length = ops.sqrt(_per_sample(ops.square(grad), lambda f: ops.sum(f, axis=1)))
        moved = x + step * grad / _broadcast(ops.maximum(length, _TINY), grad)
        delta = moved - x0
        size = ops.sqrt(_per_sample(ops.square(delta), lambda f: ops.sum(f, axis=1)))
        delta = delta * _broadcast(ops.minimum(1.0, epsilon / ops.maximum(size, _TINY)), delta)
        # Clipping to the range only moves values towards x0 (which is in range): the change
        # stays inside the ball.
        return ops.clip(x0 + delta, low, high)

    if norm not in NORMS:
        raise WorkbenchError(f"unknown norm {norm!r}: choose {' or '.join(NORMS)}")
    return linf if norm == "linf" else l2


def random_start(x, epsilon, norm: str, seed):
    """``x`` moved to a uniformly drawn point of the epsilon ball around it.

    Args:
        seed: an int or a ``keras.random.SeedGenerator`` (inside compiled code).
    """
    keras = keras_module()
    ops, rnd = keras.ops, keras.random
    shape = ops.shape(x)
    if norm == "linf":
        return x + rnd.uniform(shape, -1.0, 1.0, seed=seed) * epsilon
    direction = rnd.normal(shape, seed=seed)
    length = ops.sqrt(_per_sample(ops.square(direction), lambda f: ops.sum(f, axis=1)))
    size = ops.cast(ops.prod(ops.convert_to_tensor(shape[1:])), x.dtype)
    radius = epsilon * ops.power(rnd.uniform((shape[0],), seed=seed), 1.0 / size)
    return x + direction * _broadcast(radius / ops.maximum(length, _TINY), direction)


def _compiled_attack(model, head, norm: str):
    """``f(x_start, steps, labels, direction, x0, epsilon, step, low, high) -> x``: built once
    per model, output and norm."""
    from workbench.inspect.layers import model_cache

    cache = model_cache(model)
    key = ("attack", head.output, norm)
    if key not in cache:
        update = step_and_project(norm)
        units = head.units

        def objective(x, labels, direction, *_):
            scores, _ = head.logits(x)
            return direction * cross_entropy(labels, scores, units)

        def step(x, grad, labels, direction, x0, epsilon, length, low, high):
            return update(x, grad, x0, epsilon, length, low, high)

        cache[key] = gradients.iterate_compiled(objective, step)
    return cache[key]


def _compiled_probabilities(model, head):
    """``f(x) -> probabilities (N, classes)`` from the scores before softmax/sigmoid."""
    from workbench.inspect.layers import model_cache

    cache = model_cache(model)
    key = ("attack_probabilities", head.output)
    if key not in cache:
        ops = keras_module().ops

        def probabilities(x):
            scores, _ = head.logits(x)
            if head.units == 1:
                p = ops.sigmoid(scores)
                return ops.concatenate([1.0 - p, p], axis=-1)
            return ops.softmax(scores, axis=-1)

        cache[key] = gradients.compiled(probabilities)
    return cache[key]


def predict_probabilities(model, x: np.ndarray, output=None, batch_size: int = 256) -> np.ndarray:
    """Class probabilities (N, classes) from the scores before softmax/sigmoid."""
    from workbench.inspect.score import score_head

    head = score_head(model, output)
    function = _compiled_probabilities(model, head)
    parts = [gradients.to_numpy(function(x[i:i + batch_size])) for i in range(0, len(x), batch_size)]
    return np.concatenate(parts) if parts else np.zeros((0, max(head.units, 2)), np.float32)


# -------------------------------------------------------------------------- engine
def attack(model, x: np.ndarray, labels=None, settings: AttackSettings | None = None,
           progress: Progress | None = None, output=None, batch_size: int = 128) -> AttackResult:
    """Adversarial versions of the inputs ``x``.

    Args:
        model: a classifier (functional or Sequential; not changed).
        x: (N, ...) inputs in the model's units, inside ``settings.value_range``.
        labels: (N,) true classes (or one-hot rows); None: the predicted ones.
        settings: how to attack (``AttackSettings`` defaults when None).
        progress: told after every call of ``STEPS_PER_CALL`` steps; may cancel (the inputs
            finished by then are returned, ``stopped`` set).
        output: which model output (index or layer name); None: the first.
        batch_size: inputs per compiled call.

    Raises:
        WorkbenchError: inputs outside the value range or of the wrong shape, an unknown
            target class, labels that do not match the inputs.
    """
    from workbench.inspect.saliency import check_inputs
    from workbench.inspect.score import score_head

    settings = settings or AttackSettings()
    progress = progress or NullProgress()
    head = score_head(model, output)
    x = check_inputs(model, x)
    _check_range(x, settings.value_range)
    if settings.target is not None:
        head.check_class(settings.target)
    probabilities = predict_probabilities(model, x, output, batch_size)
    before = probabilities.argmax(axis=1).astype(np.int32)
    notes: list[str] = []
    if labels is None:
        labels = before
        if settings.target is None:
            notes.append("no true labels: each input is pushed away from its predicted class")
    labels = _class_labels(labels, len(x))
    if settings.target is not None and (labels == settings.target).any():
        count = int((labels == settings.target).sum())
        notes.append(("the input is" if len(x) == 1 else f"{count} of {len(x)} inputs are")
                     + f" already of class {settings.target}, the target: nothing to reach, "
                     "so not counted as fooled (pick another target)")
    function = _compiled_attack(model, head, settings.norm)
    adversarial, stopped = _run(function, x, labels, settings, progress, batch_size)
    done = len(adversarial)
    after_probabilities = predict_probabilities(model, adversarial, output, batch_size)
    after = after_probabilities.argmax(axis=1).astype(np.int32) if done else np.zeros(0, np.int32)
    rows = np.arange(done)
    return AttackResult(
        original=x[:done], adversarial=adversarial, labels=labels[:done], before=before[:done],
        after=after, confidence_before=probabilities[rows, before[:done]],
        confidence_after=after_probabilities[rows, after], probabilities_before=probabilities[:done],
        probabilities_after=after_probabilities, settings=settings, stopped=stopped, notes=notes)


def _run(function, x, labels, settings: AttackSettings, progress: Progress, batch_size: int):
    """The attack over all batches: (adversarial inputs finished, stopped)."""
    low, high = settings.value_range
    steps = settings.step_count
    direction = np.float32(-1.0 if settings.target is not None else 1.0)
    wanted = labels if settings.target is None else np.full(len(x), settings.target, np.int32)
    keras = keras_module()
    seed = keras.random.SeedGenerator(settings.seed) if settings.seed is not None \
        else keras.random.SeedGenerator(int(np.random.default_rng().integers(2 ** 31)))
    results, total = [], len(x) * steps
    for start in range(0, len(x), batch_size):
        x0 = x[start:start + batch_size]
        current = x0
        if settings.method == "pgd" and settings.random_start and settings.epsilon > 0:
            current = np.clip(gradients.to_numpy(random_start(x0, settings.epsilon, settings.norm, seed)),
                              low, high).astype(np.float32)
        taken = 0
        while taken < steps:
            if progress.cancelled():
                return _joined(results, x), True
            chunk = min(STEPS_PER_CALL, steps - taken)
            current = function(current, np.int32(chunk), wanted[start:start + batch_size], direction,
                               x0, np.float32(settings.epsilon), np.float32(settings.step_length),
                               np.float32(low), np.float32(high))
            taken += chunk
            progress.step(start * steps + len(x0) * taken, total,
                          f"{settings.method} {start + len(x0)}/{len(x)} inputs, step {taken}/{steps}")
        results.append(np.asarray(gradients.to_numpy(current), np.float32))
    return _joined(results, x), False


def _joined(results: list, x: np.ndarray) -> np.ndarray:
    return np.concatenate(results) if results else np.zeros((0,) + x.shape[1:], np.float32)


def _check_range(x: np.ndarray, value_range) -> None:
    low, high = value_range
    if x.size and (x.min() < low - 1e-6 * (high - low) or x.max() > high + 1e-6 * (high - low)):
        raise WorkbenchError(f"the inputs range from {x.min():.4g} to {x.max():.4g}, outside the "
                             f"valid range {low:g} to {high:g}: give the range the model was "
                             "trained on (attacks clip every result to it)")


def _class_labels(labels, count: int) -> np.ndarray:
    labels = np.asarray(labels)
    if labels.ndim == 2 and labels.shape[1] > 1:
        labels = labels.argmax(axis=1)  # one-hot rows
    labels = labels.reshape(-1).astype(np.int32)
    if len(labels) != count:
        raise WorkbenchError(f"{len(labels)} labels for {count} inputs: give one per input")
    return labels


# ---------------------------------------------------------------------- robustness
@dataclass
class SweepResult:
    """Accuracy against epsilon.

    Attributes:
        epsilons: the epsilons tried, ascending.
        accuracy: {method: accuracy per epsilon} on the adversarial inputs.
        clean_accuracy: accuracy on the inputs as they are.
        samples: how many inputs.
        norm: the norm of every attack.
        steps: BIM/PGD steps (step size 2.5 * epsilon / steps).
        stopped: True when cancelled (the lists are shorter than ``epsilons``).
    """

    epsilons: list[float]
    accuracy: dict[str, list[float]]
    clean_accuracy: float
    samples: int
    norm: str = "linf"
    steps: int = 10
    stopped: bool = False

    def rows(self) -> list[dict]:
        """One row per epsilon: {"epsilon", "<method>_accuracy", ...} (for CSV and JSON)."""
        rows = []
        for i, epsilon in enumerate(self.epsilons):
            row = {"epsilon": epsilon}
            for method, values in self.accuracy.items():
                if i < len(values):
                    row[f"{method}_accuracy"] = values[i]
            rows.append(row)
        return rows


def robustness_sweep(model, x: np.ndarray, labels, epsilons, methods=("fgsm", "pgd"),
                     settings: AttackSettings | None = None, progress: Progress | None = None,
                     output=None, batch_size: int = 256) -> SweepResult:
    """Accuracy of ``model`` on ``x`` under each attack at each epsilon.

    Args:
        labels: (N,) true classes (or one-hot rows).
        epsilons: the epsilons (sorted ascending here; 0 gives the clean accuracy).
        methods: attacks to sweep ("fgsm", "bim", "pgd").
        settings: norm, steps, random start, value range and seed for every attack (method,
            epsilon and step size are set per point: step size 2.5 * epsilon / steps unless
            given).
        progress: told per point; may cancel.
    """
    settings = settings or AttackSettings()
    progress = progress or NullProgress()
    epsilons = sorted(float(e) for e in epsilons)
    if not epsilons:
        raise WorkbenchError("give at least one epsilon to sweep")
    if any(e < 0 for e in epsilons):
        raise WorkbenchError(f"epsilons must be >= 0 (got {min(epsilons):g})")
    methods = [str(m).lower() for m in methods]
    for method in methods:
        if method not in METHODS:
            raise WorkbenchError(f"unknown attack {method!r}: choose from {', '.join(METHODS)}")
    labels = _class_labels(labels, len(x))
    clean = float(np.mean(predict_probabilities(model, np.asarray(x, np.float32), output,
                                                batch_size).argmax(axis=1) == labels))
    accuracy: dict[str, list[float]] = {m: [] for m in methods}
    total, done = len(methods) * len(epsilons), 0
    for method in methods:
        for epsilon in epsilons:
            if progress.cancelled():
                return SweepResult(epsilons, accuracy, clean, len(x), settings.norm, settings.steps, True)
            point = AttackSettings(**{**settings.get_config(), "method": method, "epsilon": epsilon,
                                      "target": None})
            if epsilon == 0:
                accuracy[method].append(clean)
            else:
                result = attack(model, x, labels, point, None, output, batch_size)
                accuracy[method].append(float(np.mean(result.after == labels)))
            done += 1
            progress.step(done, total, f"{method} epsilon {epsilon:g}: accuracy "
                                       f"{accuracy[method][-1]:.3f}")
            progress.partial({"kind": "sweep_point", "method": method, "epsilon": epsilon,
                              "accuracy": accuracy[method][-1]})
    return SweepResult(epsilons, accuracy, clean, len(x), settings.norm, settings.steps)


def _number(value) -> bool:
    return isinstance(value, (int, float, np.floating, np.integer)) and not isinstance(value, bool) \
        and np.isfinite(value)
