"""Maps of what a layer has learnt: a layer's activations for many samples, projected to 2-D.

The chain is activations -> (PCA to 50 dimensions for wide layers) -> PCA, t-SNE or UMAP, and
``Embedder`` caches every link, so a new perplexity or seed reruns only the last step and going
back to earlier settings is instant.

* Activations are computed in batches and reduced per batch (global average pooling over the
  spatial axes, or flattening), so only the (N, width) result is kept. A flattened layer too
  big for ``memory_limit`` is projected on the fly by incremental PCA to 50 dimensions (two
  passes over the data), so memory stays bounded for any number of points.
* t-SNE is Barnes-Hut, run by scikit-learn's own compiled kernels (neighbours, affinities,
  gradient) under a loop of ours, which reports progress and coordinates every few iterations
  and stops when cancelled. Measured on 10,000 points on 2 cores (``benchmarks/embed.py``) it
  takes under half of ``sklearn.manifold.TSNE()``'s time at the same trustworthiness, through
  its schedule: 500 iterations instead of 1000, early exaggeration for 125 instead of 250 at
  twice scikit-learn's "auto" learning rate, and a coarser Barnes-Hut angle (0.8) while
  exaggerated, 0.7 after. openTSNE (FFT-accelerated) was measured too: slower than
  scikit-learn's default on these activations (42 s against 32 s for 10,000 digits with
  less noise, 2 cores), since its interpolation grid grows as well-separated clusters spread
  out, so it is not used.
* UMAP needs the optional package ``umap-learn``.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from dataclasses import dataclass, field

import numpy as np

from workbench.errors import WorkbenchError
from workbench.inspect.layers import feature_model, find_layer, layer_path, output_layer_path, output_shape
from workbench.tasks import NullProgress

METHODS = ("pca", "tsne", "umap")
REDUCTIONS = ("pool", "flatten")
PRE_PCA_DIMS = 50
DEFAULT_MEMORY_LIMIT = 1 << 30  # bytes of activations kept in memory (and per layer)
UMAP_INSTALL = "pip install umap-learn"

TSNE_DEFAULTS = {"perplexity": 30.0, "learning_rate": "auto", "iterations": 500, "init": "pca", "seed": 0}
UMAP_DEFAULTS = {"n_neighbors": 15, "min_dist": 0.1, "seed": 0}
PCA_DEFAULTS = {"seed": 0}
DEFAULTS = {"pca": PCA_DEFAULTS, "tsne": TSNE_DEFAULTS, "umap": UMAP_DEFAULTS}

# The t-SNE schedule (see the module docstring and benchmarks/embed.py).
_EXAGGERATION = 12.0
_EXAGGERATION_ITERATIONS = 125
_ANGLE_EXAGGERATED, _ANGLE = 0.8, 0.7
_REPORT_EVERY = 10  # iterations between progress steps and coordinate partials


@dataclass
class Activations:
    """One layer's activations for the embedder's samples, one row per sample.

    Attributes:
        values: (N, width) float32.
        layer: the layer's path.
        reduce: "pool" or "flatten".
        shape: the layer's output shape per sample, before reduction.
        predictions: the model's predicted class per sample (None for a model whose output
            is not class scores).
        components: when the flattened layer did not fit in memory, ``values`` hold its
            projection on this many principal components (incremental PCA), else None.
        variance_ratio: the explained variance ratio of those components.
    """

    values: np.ndarray
    layer: str
    reduce: str
    shape: tuple
    predictions: np.ndarray | None = None
    components: int | None = None
    variance_ratio: np.ndarray | None = None

    @property
    def nbytes(self) -> int:
        return int(self.values.nbytes)


@dataclass
class Embedding:
    """2-D coordinates of the samples, and how they were made.

    Attributes:
        coords: (N, 2) float32.
        method: "pca", "tsne" or "umap".
        params: the settings used, defaults filled in ("auto" resolved).
        implementation: which code computed it, for people.
        layer, reduce: where the activations came from.
        input_dims: the width the method saw (after PCA to 50 for wide layers).
        labels, predictions: class per sample (None when unknown).
        seconds: time of the projection step alone.
        info: method facts: PCA's explained variance ratio, t-SNE's iterations and KL divergence.
    """

    coords: np.ndarray
    method: str
    params: dict
    implementation: str
    layer: str = ""
    reduce: str = "pool"
    input_dims: int = 0
    labels: np.ndarray | None = None
    predictions: np.ndarray | None = None
    seconds: float = 0.0
    info: dict = field(default_factory=dict)


# ----------------------------------------------------------------- activations
def reduce_batch(values: np.ndarray, reduce: str) -> np.ndarray:
    """(B, ...) layer outputs -> (B, width): the mean over all axes but the first and last
    ("pool"), or everything flattened ("flatten"). Rank-2 outputs pass unchanged."""
    values = np.asarray(values)
    if reduce not in REDUCTIONS:
        raise WorkbenchError(f"reduce must be one of {', '.join(REDUCTIONS)} (got {reduce!r})")
    if values.ndim <= 2:
        return values.reshape(len(values), -1)
    if reduce == "pool":
        return values.mean(axis=tuple(range(1, values.ndim - 1)))
    return values.reshape(len(values), -1)


def predict_in_batches(model, x: np.ndarray, batch_size: int = 256, progress=None, message: str = "",
                       transform=None):
    """``model``'s outputs for ``x``, batch by batch, into preallocated arrays.

    Args:
        model: a Keras model (one or several outputs).
        x: the inputs.
        batch_size: samples per forward pass.
        progress: gets ``step(samples done, N, message)``; ``cancelled()`` stops.
        message: the progress message.
        transform: ``transform(index, output_batch)`` applied to each output's batch before it
            is stored (to reduce it); the identity by default.

    Returns:
        An array, or a list of arrays for several outputs; None when cancelled.
    """
    progress = progress or NullProgress()
    n = len(x)
    if n == 0:
        raise WorkbenchError("no samples to run through the model")
    results: list[np.ndarray] | None = None
    single = True
    for start in range(0, n, batch_size):
        if progress.cancelled():
            return None
        batch = x[start:start + batch_size]
        count = len(batch)
        if count < batch_size and start > 0:  # pad the tail: one batch shape, one trace
            batch = np.concatenate([batch, np.zeros((batch_size - count,) + batch.shape[1:], batch.dtype)])
        outputs = model.predict_on_batch(batch)
        single = not isinstance(outputs, (list, tuple))
        outputs = [np.asarray(o)[:count] for o in ([outputs] if single else outputs)]
        if transform is not None:
            outputs = [transform(i, o) for i, o in enumerate(outputs)]
        if results is None:  # the widths are known now: allocate once, fill in place
            results = [np.empty((n,) + o.shape[1:], o.dtype) for o in outputs]
        for store, value in zip(results, outputs):
            store[start:start + len(value)] = value
        progress.step(min(start + batch_size, n), n, message)
    return results[0] if single else results


def _class_predictions(outputs: np.ndarray) -> np.ndarray | None:
    """Predicted classes from a classifier's outputs; None for other kinds of output."""
    if outputs.ndim == 2 and outputs.shape[1] > 1:
        return outputs.argmax(axis=1).astype(np.int64)
    if outputs.ndim == 2 and outputs.shape[1] == 1 or outputs.ndim == 1:
        return (outputs.reshape(-1) > 0.5).astype(np.int64)
    return None


def compute_activations(model, x: np.ndarray, layer: str, reduce: str = "pool", batch_size: int = 256,
                        memory_limit: int = DEFAULT_MEMORY_LIMIT, progress=None) -> Activations | None:
    """A layer's activations (and the model's predictions) for ``x``, reduced to rows.

    Args:
        model: a functional or Sequential Keras model with one input.
        x: inputs, (N, ...) matching the model's input.
        layer: a layer name or path (``outer/inner`` inside nested models).
        reduce: "pool" (global average over spatial axes) or "flatten".
        batch_size: samples per forward pass.
        memory_limit: bytes the (N, width) result may take; a flattened layer that needs more
            is projected on its top 50 principal components by incremental PCA (two passes).
        progress: the progress protocol; ``cancelled()`` stops.

    Returns:
        The activations, or None when cancelled.

    Raises:
        WorkbenchError: an unknown layer, inputs that do not fit, non-finite activations.
    """
    from workbench.inspect.saliency import check_inputs

    progress = progress or NullProgress()
    x = check_inputs(model, x)
    path = layer_path(model, layer)
    if reduce not in REDUCTIONS:
        raise WorkbenchError(f"reduce must be one of {', '.join(REDUCTIONS)} (got {reduce!r})")
    try:
        head = output_layer_path(model, 0)
    except WorkbenchError:
        head = None
    taps = [path] if head in (None, path) else [path, head]
    features = feature_model(model, taps)
    shape = tuple(d for d in (output_shape(find_layer(model, path)) or (None,))[1:])
    width = int(np.prod(shape)) if reduce == "flatten" and shape and None not in shape else None
    streamed = (width is not None and width > PRE_PCA_DIMS
                and len(x) * width * 4 > memory_limit and len(x) > PRE_PCA_DIMS)
    message = f"activations of {path}"
    if streamed:
        result = _streamed_pca(features, x, taps, batch_size, progress, message)
        if result is None:
            return None
        values, outputs, ratio = result
    else:
        out = predict_in_batches(features, x, batch_size, progress, message,
                                 transform=lambda i, v: reduce_batch(v, reduce) if i == 0 else v)
        if out is None:
            return None
        values, outputs = (out[0], out[1]) if len(taps) > 1 else (out, out)
        ratio = None
    values = np.ascontiguousarray(values, dtype=np.float32)
    bad = int((~np.isfinite(values)).any(axis=1).sum())
    if bad:
        raise WorkbenchError(f"layer {path!r} gives non-finite values (NaN or infinity) for {bad} of "
                             f"{len(values)} samples: check the model's weights and the inputs' scale")
    predictions = _class_predictions(np.asarray(outputs)) if head is not None else None
    return Activations(values, path, reduce, shape, predictions,
                       components=PRE_PCA_DIMS if streamed else None, variance_ratio=ratio)


def _streamed_pca(features, x, taps, batch_size, progress, message):
    """Two passes: fit incremental PCA on flattened batches, then project them. Returns
    (values, model outputs, explained variance ratio), or None when cancelled."""
    from sklearn.decomposition import IncrementalPCA

    batch_size = max(batch_size, PRE_PCA_DIMS)
    ipca = IncrementalPCA(n_components=PRE_PCA_DIMS)
    n, carry = len(x), None
    for start in range(0, n, batch_size):
        if progress.cancelled():
            return None
        out = features.predict_on_batch(x[start:start + batch_size])
        flat = reduce_batch(out[0] if len(taps) > 1 else out, "flatten").astype(np.float32)
        carry = flat if carry is None else np.concatenate([carry, flat])
        # Each partial fit needs at least as many rows as components; a short tail waits.
        if len(carry) >= PRE_PCA_DIMS and (n - start - batch_size >= PRE_PCA_DIMS or start + batch_size >= n):
            ipca.partial_fit(carry)
            carry = None
        progress.step(min(start + batch_size, n) / 2, n, message + " (fitting PCA)")
    if carry is not None:
        ipca.partial_fit(carry)

    def project(index, value):
        return ipca.transform(reduce_batch(value, "flatten")) if index == 0 else value

    class Halfway:  # the second pass reports from 50% to 100%
        def step(self, done, total=None, text=""):
            progress.step(n / 2 + done / 2, n, message + " (projecting)")

        def partial(self, result):
            progress.partial(result)

        def cancelled(self):
            return progress.cancelled()

    out = predict_in_batches(features, x, batch_size, Halfway(), transform=project)
    if out is None:
        return None
    values, outputs = (out[0], out[1]) if len(taps) > 1 else (out, out)
    return values, outputs, ipca.explained_variance_ratio_


# ------------------------------------------------------------------ projections
def reduce_dims(values: np.ndarray, dims: int = PRE_PCA_DIMS) -> np.ndarray:
    """``values`` on their top ``dims`` principal components when wider, else unchanged: what
    t-SNE and UMAP are fed (faster neighbour search, less noise)."""
    if values.shape[1] <= dims or len(values) <= dims:
        return values
    from sklearn.decomposition import PCA

    return PCA(n_components=dims, random_state=0).fit_transform(values).astype(np.float32)


def pca(values: np.ndarray, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """The top two principal components: (coords (N, 2), explained variance ratio (2,))."""
    from sklearn.decomposition import PCA

    _check_points(values, 2, "PCA")
    components = min(2, values.shape[1])
    model = PCA(n_components=components, random_state=seed)
    coords = model.fit_transform(values).astype(np.float32)
    if components < 2:  # a one-unit layer: its values along x
        coords = np.hstack([coords, np.zeros_like(coords)])
    return coords, model.explained_variance_ratio_


def tsne(values: np.ndarray, perplexity: float = 30.0, learning_rate: float | str = "auto",
         iterations: int = 500, init: str = "pca", seed: int = 0, progress=None) -> dict | None:
    """Barnes-Hut t-SNE to 2-D with progress, intermediate coordinates and cancel.

    Args:
        values: (N, D) points (reduce wide layers with ``reduce_dims`` first).
        perplexity: the effective number of neighbours each point keeps close (below N).
        learning_rate: in scikit-learn's units; "auto" is max(N / 24, 50), twice scikit-learn's
            "auto", since early exaggeration lasts half as long.
        iterations: gradient steps in all, the first 125 (or half, when fewer) exaggerated.
        init: "pca" (stable, keeps global layout) or "random".
        seed: for PCA's solver and the random start.
        progress: ``step(iteration, iterations, message)`` and
            ``partial({"kind": "embedding", "method": "tsne", "iteration", "coords"})`` every 10
            iterations; ``cancelled()`` stops.

    Returns:
        ``{"coords", "iterations", "kl_divergence", "learning_rate", "implementation"}``, or None
        when cancelled.
    """
    progress = progress or NullProgress()
    values = np.ascontiguousarray(values, dtype=np.float32)
    n = len(values)
    _check_points(values, 3, "t-SNE")
    perplexity = _check_perplexity(perplexity, n)
    iterations = int(iterations)
    if iterations < 50:
        raise WorkbenchError(f"t-SNE needs at least 50 iterations (got {iterations})")
    if init not in ("pca", "random"):
        raise WorkbenchError(f"t-SNE's init must be 'pca' or 'random' (got {init!r})")
    if learning_rate == "auto":
        rate = max(n / _EXAGGERATION / 2, 50.0)
    else:
        try:
            rate = float(learning_rate)
        except (TypeError, ValueError):
            rate = -1.0
        if not rate > 0:
            raise WorkbenchError(f"t-SNE's learning rate must be 'auto' or a positive number "
                                 f"(got {learning_rate!r})")
    kernels = _sklearn_kernels()
    if kernels is None:
        return _tsne_fallback(values, perplexity, rate, iterations, init, seed, progress)
    joint_probabilities, kl_gradient, threads = kernels

    progress.step(0, iterations, "t-SNE: nearest neighbours")
    from sklearn.neighbors import NearestNeighbors

    neighbours = min(n - 1, int(3.0 * perplexity + 1))
    distances = NearestNeighbors(n_neighbors=neighbours, n_jobs=threads).fit(values) \
        .kneighbors_graph(mode="distance")
    distances.data **= 2
    p = joint_probabilities(distances, perplexity, 0)
    if progress.cancelled():
        return None
    coords = _tsne_start(values, init, seed).ravel()
    update = np.zeros_like(coords)
    gains = np.ones_like(coords)
    exaggerated_p = p * _EXAGGERATION
    exaggeration = min(_EXAGGERATION_ITERATIONS, iterations // 2)
    kl = float("nan")
    for i in range(iterations):
        exaggerating = i < exaggeration
        last = i == iterations - 1
        # The KL divergence costs little extra inside the gradient; it is only reported.
        report = ((i + 1) % 50 == 0 and not exaggerating) or last
        error, gradient = kl_gradient(coords, exaggerated_p if exaggerating else p, 1, n, 2,
                                      angle=_ANGLE_EXAGGERATED if exaggerating else _ANGLE,
                                      compute_error=report, num_threads=threads)
        # Gradient descent with momentum and per-coordinate gains, as scikit-learn's.
        growing = update * gradient < 0.0
        gains[growing] += 0.2
        gains[~growing] *= 0.8
        np.clip(gains, 0.01, None, out=gains)
        gradient *= gains
        update = (0.5 if exaggerating else 0.8) * update - rate * gradient
        coords += update
        if report:
            kl = float(error)
        if (i + 1) % _REPORT_EVERY == 0 or last:
            if progress.cancelled():
                return None
            text = f"t-SNE iteration {i + 1}/{iterations}" + ("" if exaggerating else f", KL {kl:.3f}")
            progress.step(i + 1, iterations, text)
            progress.partial({"kind": "embedding", "method": "tsne", "iteration": i + 1,
                              "coords": coords.reshape(n, 2).copy()})
    return {"coords": coords.reshape(n, 2).astype(np.float32), "iterations": iterations,
            "kl_divergence": kl, "learning_rate": rate,
            "implementation": "Barnes-Hut t-SNE (scikit-learn kernels, workbench schedule)"}


def _check_perplexity(perplexity, n: int) -> float:
    perplexity = float(perplexity)
    if not 0 < perplexity < n:
        raise WorkbenchError(f"the perplexity must be above 0 and below the number of points ({n}); "
                             f"got {perplexity:g}: lower the perplexity or use more samples")
    return perplexity


def _sklearn_kernels():
    """scikit-learn's compiled t-SNE pieces, or None if this version moved them."""
    try:
        from sklearn.manifold import _t_sne

        joint, gradient = _t_sne._joint_probabilities_nn, _t_sne._kl_divergence_bh
    except (ImportError, AttributeError):
        return None
    try:
        from sklearn.utils._openmp_helpers import _openmp_effective_n_threads

        threads = int(_openmp_effective_n_threads())
    except ImportError:
        from workbench.backend import usable_cores

        threads = usable_cores()
    return joint, gradient, threads


def _tsne_start(values: np.ndarray, init: str, seed: int) -> np.ndarray:
    """The starting layout, tiny (standard deviation 1e-4) as t-SNE expects."""
    if init == "pca":
        start, _ = pca(values, seed)
        spread = float(np.std(start[:, 0]))
        if spread > 0:
            return (start / spread * 1e-4).astype(np.float32)
    return (1e-4 * np.random.default_rng(seed).standard_normal((len(values), 2))).astype(np.float32)


def _tsne_fallback(values, perplexity, rate, iterations, init, seed, progress) -> dict | None:
    """scikit-learn's public TSNE, for a version whose internals differ: no steps between."""
    import inspect

    from sklearn.manifold import TSNE

    progress.step(0, iterations, "t-SNE (scikit-learn; no progress until it ends)")
    steps = "max_iter" if "max_iter" in inspect.signature(TSNE).parameters else "n_iter"
    model = TSNE(perplexity=perplexity, learning_rate=rate, init=init, random_state=seed,
                 **{steps: max(iterations, 250)})
    coords = model.fit_transform(values).astype(np.float32)
    if progress.cancelled():
        return None
    progress.step(iterations, iterations, "t-SNE done")
    return {"coords": coords, "iterations": int(getattr(model, "n_iter_", iterations)),
            "kl_divergence": float(model.kl_divergence_), "learning_rate": rate,
            "implementation": "scikit-learn TSNE (Barnes-Hut)"}


def umap(values: np.ndarray, n_neighbors: int = 15, min_dist: float = 0.1, seed: int = 0,
         progress=None) -> np.ndarray | None:
    """UMAP to 2-D (the optional package ``umap-learn``); None when cancelled before it ran.

    Raises:
        WorkbenchError: umap-learn is not installed (naming the pip command), bad settings.
    """
    progress = progress or NullProgress()
    umap_learn = require_umap()
    _check_points(values, 3, "UMAP")
    if not 0 <= float(min_dist):
        raise WorkbenchError(f"UMAP's min_dist must be 0 or more (got {min_dist})")
    if int(n_neighbors) < 2:
        raise WorkbenchError(f"UMAP's n_neighbors must be at least 2 (got {n_neighbors})")
    if progress.cancelled():
        return None
    progress.step(0, 1, "UMAP (umap-learn)")
    reducer = umap_learn.UMAP(n_components=2, n_neighbors=min(int(n_neighbors), len(values) - 1),
                              min_dist=float(min_dist), random_state=int(seed))
    coords = np.asarray(reducer.fit_transform(values), np.float32)
    progress.step(1, 1, "UMAP done")
    return coords


def require_umap():
    """The ``umap`` module of umap-learn.

    Raises:
        WorkbenchError: it is not installed, naming the pip command.
    """
    try:
        import umap as umap_learn
    except ImportError:
        raise WorkbenchError(f"UMAP needs the optional package umap-learn: {UMAP_INSTALL} "
                             "(or use t-SNE or PCA)") from None
    return umap_learn


def _check_points(values: np.ndarray, least: int, method: str) -> None:
    if values.ndim != 2 or len(values) < least:
        raise WorkbenchError(f"{method} needs at least {least} samples (got {len(values)}): "
                             "use more samples")


def method_params(method: str, params: dict) -> dict:
    """The method's settings with defaults filled in; unknown or None-valued keys dropped to
    defaults, unknown names refused.

    Raises:
        WorkbenchError: an unknown method or setting, naming the allowed ones.
    """
    if method not in METHODS:
        raise WorkbenchError(f"unknown embedding method {method!r}: choose {', '.join(METHODS)}")
    defaults = DEFAULTS[method]
    unknown = sorted(k for k, v in params.items() if k not in defaults and v is not None)
    if unknown:
        raise WorkbenchError(f"{method} has no setting {', '.join(unknown)}; its settings: "
                             f"{', '.join(defaults)}")
    settings = {k: (params[k] if params.get(k) is not None else v) for k, v in defaults.items()}
    if method == "tsne":
        if not float(settings["perplexity"]) > 0:
            raise WorkbenchError(f"the perplexity must be positive (got {settings['perplexity']})")
        if int(settings["iterations"]) < 50:
            raise WorkbenchError(f"t-SNE needs at least 50 iterations (got {settings['iterations']})")
        if settings["init"] not in ("pca", "random"):
            raise WorkbenchError(f"t-SNE's init must be 'pca' or 'random' (got {settings['init']!r})")
    return settings


def sample_indices(total: int, count: int | None, seed: int = 0) -> np.ndarray:
    """``count`` sample indices out of ``total`` in increasing order (a seeded random choice
    when fewer than all are wanted); all of them for None."""
    if count is None or count >= total:
        return np.arange(total)
    if count < 1:
        raise WorkbenchError(f"the number of samples must be at least 1 (got {count})")
    return np.sort(np.random.default_rng(seed).choice(total, size=count, replace=False))


# ----------------------------------------------------------------- the cache
class Embedder:
    """Embeddings of one model's layers for a fixed set of samples, cached link by link.

    ``activations`` (one forward pass per layer and reduction, kept while they fit in
    ``memory_limit``, the most recent always), ``features`` (PCA to 50 dimensions of wide
    activations, for t-SNE and UMAP), ``project`` (the 2-D result per method and settings).

    Args:
        model: a functional or Sequential Keras model with one input.
        x: the samples' inputs.
        labels: their classes (indices or one-hot rows), or None.
        batch_size: samples per forward pass.
        memory_limit: bytes for cached activations; also the size above which a flattened
            layer is reduced by incremental PCA while it is computed.

    Attributes:
        passes: how many times activations were computed (a cache miss each).
    """

    def __init__(self, model, x, labels=None, batch_size: int = 256,
                 memory_limit: int = DEFAULT_MEMORY_LIMIT):
        self.model = model
        self.x = x
        self.labels = _class_labels(labels)
        self.batch_size = batch_size
        self.memory_limit = memory_limit
        self.passes = 0
        self._activations: OrderedDict[tuple, Activations] = OrderedDict()
        self._features: dict[tuple, np.ndarray] = {}
        self._embeddings: OrderedDict[tuple, Embedding] = OrderedDict()

    def activations(self, layer: str, reduce: str = "pool", progress=None) -> Activations | None:
        """The layer's activations (cached); None when cancelled."""
        key = (layer_path(self.model, layer), reduce)
        if key in self._activations:
            self._activations.move_to_end(key)
            return self._activations[key]
        self.passes += 1
        found = compute_activations(self.model, self.x, layer, reduce, self.batch_size,
                                    self.memory_limit, progress)
        if found is None:
            return None
        self._activations[key] = found
        while len(self._activations) > 1 and \
                sum(a.nbytes for a in self._activations.values()) > self.memory_limit:
            old, _ = self._activations.popitem(last=False)
            self._features = {k: v for k, v in self._features.items() if k[:2] != old}
            self._embeddings = OrderedDict((k, v) for k, v in self._embeddings.items() if k[:2] != old)
        return found

    def features(self, layer: str, reduce: str = "pool", progress=None) -> np.ndarray | None:
        """What t-SNE and UMAP see: the activations, on their top 50 principal components when
        wider (cached); None when cancelled."""
        found = self.activations(layer, reduce, progress)
        if found is None:
            return None
        key = (found.layer, reduce)
        if key not in self._features:
            if progress is not None:
                progress.step(0, None, f"PCA to {PRE_PCA_DIMS} dimensions")
            self._features[key] = reduce_dims(found.values)
        return self._features[key]

    def project(self, method: str, layer: str, reduce: str = "pool", progress=None,
                **params) -> Embedding | None:
        """The 2-D embedding of a layer by ``method`` with ``params`` (see ``DEFAULTS``).

        Returns:
            The embedding (cached by layer, reduction, method and settings), or None when
            cancelled (nothing is cached then).
        """
        settings = method_params(method, params)
        # Refusals that need no activations come before the forward pass.
        if method == "umap":
            require_umap()
        if method == "tsne":
            _check_perplexity(settings["perplexity"], len(self.x))
        found = self.activations(layer, reduce, progress)
        if found is None:
            return None
        key = (found.layer, reduce, method, tuple(sorted(settings.items())))
        if key in self._embeddings:
            self._embeddings.move_to_end(key)
            return self._embeddings[key]
        started = time.perf_counter()
        info: dict = {}
        if method == "pca":
            inputs = found.values
            coords, ratio = pca(inputs, settings["seed"])
            if found.components and found.variance_ratio is not None:
                ratio = found.variance_ratio[:2]  # of the whole layer, not of the 50 components
            info["explained_variance_ratio"] = [float(r) for r in ratio]
            implementation = "scikit-learn PCA" + (" (after incremental PCA)" if found.components else "")
        else:
            inputs = self.features(layer, reduce, progress)
            if inputs is None:
                return None
            if method == "tsne":
                result = tsne(inputs, progress=progress, **settings)
                if result is None:
                    return None
                coords, implementation = result["coords"], result["implementation"]
                info = {"iterations": result["iterations"], "kl_divergence": result["kl_divergence"]}
                settings = {**settings, "learning_rate": result["learning_rate"]}
            else:
                coords = umap(inputs, progress=progress, **settings)
                if coords is None:
                    return None
                implementation = "UMAP (umap-learn)"
        embedding = Embedding(coords=coords, method=method, params=settings, implementation=implementation,
                              layer=found.layer, reduce=reduce, input_dims=int(inputs.shape[1]),
                              labels=self.labels, predictions=found.predictions,
                              seconds=time.perf_counter() - started, info=info)
        self._embeddings[key] = embedding
        while len(self._embeddings) > 32:  # a few KB each per thousand points; keep the recent
            self._embeddings.popitem(last=False)
        return embedding


def _class_labels(labels) -> np.ndarray | None:
    if labels is None:
        return None
    labels = np.asarray(labels)
    if labels.ndim == 2 and labels.shape[1] > 1:
        return labels.argmax(axis=1).astype(np.int64)
    labels = labels.reshape(len(labels), -1)
    if labels.shape[1] != 1 or not np.all(np.mod(labels, 1) == 0):
        return None  # masks or regression targets: nothing to colour by
    return labels[:, 0].astype(np.int64)
