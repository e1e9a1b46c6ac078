"""Distribution strategies: one model trained on several devices or machines at once.

The experiment's ``training.distribution`` chooses one:

* ``"none"`` (the default): one device, as ``training.device`` says.
* ``"mirrored"``: ``tf.distribute.MirroredStrategy``, a copy of the model on every GPU of this
  machine (or on the devices listed, ``{"name": "mirrored", "devices": ["/gpu:0", "/gpu:1"]}``);
  each batch is split across them and the gradients are summed. Listing CPUs
  (``["/cpu:0", "/cpu:1"]``) splits this machine's CPU into that many logical devices, which
  is how to try it without GPUs; that only works before TensorFlow starts, i.e. in a fresh
  process such as ``workbench train``.
* ``"multi-worker"``: ``tf.distribute.MultiWorkerMirroredStrategy`` across machines. Every node
  runs the same ``workbench train EXPERIMENT`` with its own ``TF_CONFIG`` environment variable
  (``{"cluster": {"worker": ["host0:port", "host1:port"]}, "task": {"type": "worker",
  "index": 0}}``), which Kubernetes operators and Slurm scripts usually set. TensorFlow must
  learn the cluster before it starts, so the strategy is made first thing in a run.

**Batch size.** ``training.batch_size`` is the *global* batch, as in Keras' ``fit`` under a
strategy: with N replicas each takes ``batch_size / N`` samples per step, so a distributed run
with the same file computes the same steps as a single-device run (and the same number of
them). To give every replica as much work as one device had, multiply ``batch_size`` by N and,
by the linear scaling rule, the learning rate too; ``scaling_note`` says so with the numbers.

**Who writes the run.** In a multi-worker run every worker trains (the collective operations
need them all, saving included), but only the chief writes to the run store: the task of type
"chief", or worker 0 when the cluster has no chief. Other workers write their run folder and
checkpoints into a temporary folder that is deleted when they finish (TensorFlow's usual
pattern), so a shared ``--runs-dir`` holds one run, not one per worker.

Only the TensorFlow backend has these strategies; asking for one on another backend is an error.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass

from workbench.backend import quiet_native_stderr
from workbench.errors import FormatError, WorkbenchError

NONE, MIRRORED, MULTI_WORKER = "none", "mirrored", "multi-worker"
DISTRIBUTIONS = (NONE, MIRRORED, MULTI_WORKER)
WHERE = "training.distribution"
TF_CONFIG = "TF_CONFIG"
TF_CONFIG_EXAMPLE = ('{"cluster": {"worker": ["host0:12345", "host1:12345"]}, '
                     '"task": {"type": "worker", "index": 0}}')
_TRAINING_JOBS = ("chief", "worker")

_DEVICE = re.compile(r"^(?:/job:[\w-]+(?:/replica:\d+)?(?:/task:\d+)?)?/?(?:device:)?(cpu|gpu):(\d+)$",
                     re.IGNORECASE)


@dataclass(frozen=True)
class Distribution:
    """A parsed ``training.distribution``.

    Attributes:
        name: one of ``DISTRIBUTIONS``.
        devices: for "mirrored", the devices to mirror on in canonical form ("/gpu:0",
            "/cpu:1"); None means every GPU (or the CPU when there is none).
    """

    name: str = NONE
    devices: tuple[str, ...] | None = None

    @property
    def distributed(self) -> bool:
        return self.name != NONE

    def to_json(self) -> str | dict:
        """The plain string when that says everything, else the object form."""
        if self.devices is None:
            return self.name
        return {"name": self.name, "devices": list(self.devices)}


def parse_distribution(value) -> Distribution:
    """Check a ``training.distribution`` value: a name or ``{"name": ..., "devices": [...]}``.

    Raises:
        FormatError: at ``training.distribution`` (or its ``name``/``devices``), naming the
            allowed values.
    """
    allowed = ", ".join(repr(d) for d in DISTRIBUTIONS)
    if value is None:
        return Distribution()
    if isinstance(value, str):
        name, devices, where = value, None, WHERE
    elif isinstance(value, Mapping):
        unknown = sorted(set(value) - {"name", "devices"})
        if unknown:
            raise FormatError(f"{WHERE}.{unknown[0]}", "unknown key: a distribution has \"name\" and, "
                                                       "for mirrored, \"devices\"")
        name, devices, where = value.get("name", NONE), value.get("devices"), f"{WHERE}.name"
    else:
        raise FormatError(WHERE, f"expected one of {allowed}, or an object such as "
                                 '{"name": "mirrored", "devices": ["/gpu:0", "/gpu:1"]}')
    if not isinstance(name, str) or name.lower() not in DISTRIBUTIONS:
        raise FormatError(where, f"must be one of {allowed} (got {name!r})")
    name = name.lower()
    if devices is None:
        return Distribution(name)
    where = f"{WHERE}.devices"
    if name != MIRRORED:
        uses = "the devices of every worker" if name == MULTI_WORKER else "training.device"
        raise FormatError(where, f"only \"mirrored\" takes a device list ({name!r} uses {uses})")
    if not isinstance(devices, list) or not devices or not all(isinstance(d, str) for d in devices):
        raise FormatError(where, 'expected a list of device names such as ["/gpu:0", "/gpu:1"]')
    canonical = []
    for index, device in enumerate(devices):
        match = _DEVICE.match(device.strip())
        if match is None:
            raise FormatError(f"{where}[{index}]", f"{device!r} is not a device name: write /gpu:N or /cpu:N")
        canonical.append(f"/{match.group(1).lower()}:{int(match.group(2))}")
    if len(set(canonical)) != len(canonical):
        raise FormatError(where, "lists a device twice")
    return Distribution(name, tuple(canonical))


# ----------------------------------------------------------------- TF_CONFIG
@dataclass(frozen=True)
class ClusterTask:
    """This process's place in a multi-worker cluster, from ``TF_CONFIG``.

    Attributes:
        cluster: job name -> "host:port" addresses.
        task_type: "chief" or "worker".
        task_index: this task's index in its job.
    """

    cluster: dict
    task_type: str
    task_index: int

    @property
    def is_chief(self) -> bool:
        """The task that writes the run: "chief", else worker 0 when there is no chief."""
        if self.task_type == "chief":
            return True
        return self.task_type == "worker" and self.task_index == 0 and "chief" not in self.cluster

    @property
    def workers(self) -> int:
        """Machines that train (chief included)."""
        return sum(len(self.cluster.get(job, ())) for job in _TRAINING_JOBS)


def read_tf_config(environ: Mapping[str, str] | None = None) -> ClusterTask:
    """Read and check ``TF_CONFIG``.

    Args:
        environ: the environment (``os.environ`` when None).

    Raises:
        WorkbenchError: the variable is missing, not JSON, or does not describe a cluster with
            this task in it; the message names ``TF_CONFIG`` and what is wrong.
    """
    environ = os.environ if environ is None else environ
    text = environ.get(TF_CONFIG, "")
    if not text.strip():
        raise WorkbenchError(f"multi-worker training reads the cluster from the {TF_CONFIG} environment "
                             f"variable, which is not set: set it on every node, e.g. {TF_CONFIG}='"
                             f"{TF_CONFIG_EXAMPLE}' (each node with its own task index)")
    try:
        data = json.loads(text)
    except (json.JSONDecodeError, ValueError) as error:
        raise WorkbenchError(f"{TF_CONFIG} is not valid JSON ({error}); expected e.g. {TF_CONFIG_EXAMPLE}") \
            from None
    if not isinstance(data, dict):
        raise WorkbenchError(f"{TF_CONFIG} must be a JSON object with \"cluster\" and \"task\", "
                             f"e.g. {TF_CONFIG_EXAMPLE}")
    cluster = data.get("cluster")
    if not isinstance(cluster, dict) or not cluster:
        raise WorkbenchError(f"{TF_CONFIG}: \"cluster\" is missing or empty: it maps job names to "
                             'addresses, e.g. {"worker": ["host0:12345", "host1:12345"]}')
    for job, addresses in cluster.items():
        if job == "ps":
            raise WorkbenchError(f"{TF_CONFIG}: cluster.ps: parameter servers belong to another strategy; "
                                 "multi-worker mirrored training uses only \"chief\" and \"worker\" jobs")
        if not isinstance(addresses, list) or not addresses:
            raise WorkbenchError(f"{TF_CONFIG}: cluster.{job}: expected a list of \"host:port\" addresses")
        for address in addresses:
            if not _is_address(address):
                raise WorkbenchError(f"{TF_CONFIG}: cluster.{job}: {address!r} is not a "
                                     "\"host:port\" address")
    if not any(job in cluster for job in _TRAINING_JOBS):
        raise WorkbenchError(f"{TF_CONFIG}: the cluster has no \"worker\" (or \"chief\") job, so nobody "
                             "would train")
    task = data.get("task")
    if not isinstance(task, dict):
        raise WorkbenchError(f"{TF_CONFIG}: \"task\" is missing: it says which node this is, e.g. "
                             '{"type": "worker", "index": 0}')
    task_type, index = task.get("type"), task.get("index", 0)
    if task_type not in _TRAINING_JOBS:
        raise WorkbenchError(f"{TF_CONFIG}: task.type must be \"chief\" or \"worker\" (got {task_type!r}); "
                             "`workbench train` runs only on the nodes that train")
    if task_type not in cluster:
        raise WorkbenchError(f"{TF_CONFIG}: task.type is {task_type!r} but the cluster has no such job "
                             f"(jobs: {', '.join(cluster)})")
    count = len(cluster[task_type])
    if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < count:
        raise WorkbenchError(f"{TF_CONFIG}: task.index must be a whole number from 0 to {count - 1} "
                             f"(the {task_type} job has {count} address{'es' if count > 1 else ''}); "
                             f"got {index!r}")
    return ClusterTask({job: list(addresses) for job, addresses in cluster.items()}, task_type, index)


def _is_address(value) -> bool:
    if not isinstance(value, str) or ":" not in value:
        return False
    host, port = value.rsplit(":", 1)
    return bool(host) and port.isdigit() and 0 < int(port) < 65536


def writes_run(distribution: Distribution, environ: Mapping[str, str] | None = None) -> bool:
    """Whether this process writes the run folder: always, except on multi-worker non-chiefs."""
    if distribution.name != MULTI_WORKER:
        return True
    return read_tf_config(environ).is_chief


# ------------------------------------------------------------------ strategy
def make_strategy(distribution: Distribution):
    """The ``tf.distribute`` strategy for ``distribution`` (None for "none").

    Call it before anything starts TensorFlow's runtime when the distribution is
    multi-worker, or mirrored over logical CPUs: both can only be set up at start-up.

    Raises:
        WorkbenchError: another backend than TensorFlow; a device that is not here; a missing
            or malformed ``TF_CONFIG``; TensorFlow already started for multi-worker.
    """
    if not distribution.distributed:
        return None
    _require_tensorflow(distribution)
    if distribution.name == MIRRORED:
        return _mirrored(distribution)
    read_tf_config()  # checked here, with a clear message, before TensorFlow reads it
    import tensorflow as tf

    try:
        with quiet_native_stderr():
            return tf.distribute.MultiWorkerMirroredStrategy()
    except (RuntimeError, ValueError) as error:
        if "startup" in str(error) or "initialized" in str(error):
            raise WorkbenchError("multi-worker training must set up TensorFlow itself, in a fresh "
                                 "process: start it with `workbench train EXPERIMENT` on every node, not "
                                 "from a window or a session that already used TensorFlow") from None
        raise WorkbenchError(f"multi-worker training could not start: {error}") from None


def _require_tensorflow(distribution: Distribution) -> None:
    with quiet_native_stderr():
        import keras  # the backend is fixed at import; importing does not start TensorFlow's runtime

    backend = keras.backend.backend()
    if backend != "tensorflow":
        raise WorkbenchError(f"{WHERE}: {distribution.name!r} uses TensorFlow's distribution strategies, "
                             f"but Keras runs on {backend!r}: set KERAS_BACKEND=tensorflow or set "
                             f"{WHERE} to \"none\"")


def _mirrored(distribution: Distribution):
    import tensorflow as tf

    if distribution.devices:
        _split_cpu(distribution.devices)
    found = available_devices()
    devices = list(distribution.devices or [d for d in found if d.startswith("/gpu:")] or ["/cpu:0"])
    missing = [d for d in devices if d not in found]
    if missing:
        hint = ("; logical CPUs are made only when training starts in a fresh process "
                "(`workbench train`)" if any(d.startswith("/cpu:") for d in missing) else "")
        raise WorkbenchError(f"{WHERE}.devices: {', '.join(missing)} "
                             f"{'does' if len(missing) == 1 else 'do'} not exist here "
                             f"(found: {', '.join(found)}){hint}")
    with quiet_native_stderr():
        return tf.distribute.MirroredStrategy(devices)


def available_devices() -> list[str]:
    """TensorFlow's logical devices in canonical form ("/gpu:0", "/cpu:0", ...)."""
    import tensorflow as tf

    with quiet_native_stderr():
        logical = tf.config.list_logical_devices()
    names = []
    for device in logical:
        match = _DEVICE.match(device.name)
        if match is not None:
            names.append(f"/{match.group(1).lower()}:{int(match.group(2))}")
    return sorted(names, key=lambda n: (not n.startswith("/gpu:"), int(n.split(":")[1])))


def _split_cpu(devices: tuple[str, ...]) -> None:
    """Split the CPU into as many logical devices as ``devices`` names (if TensorFlow has not
    started yet; afterwards the device check reports what is missing)."""
    count = 1 + max((int(d.split(":")[1]) for d in devices if d.startswith("/cpu:")), default=0)
    if count < 2:
        return
    import tensorflow as tf

    cpus = tf.config.list_physical_devices("CPU")
    current = tf.config.get_logical_device_configuration(cpus[0]) or []
    if len(current) >= count:
        return
    try:
        tf.config.set_logical_device_configuration(cpus[0], [tf.config.LogicalDeviceConfiguration()] * count)
    except RuntimeError:  # TensorFlow has started: the device check below says what is missing
        pass


def describe(strategy, distribution: Distribution) -> str:
    """What a run trains on, for ``run.json`` and the progress line."""
    if strategy is None:
        return NONE
    replicas = strategy.num_replicas_in_sync
    if distribution.name == MIRRORED:
        devices = [_canonical(d) for d in strategy.extended.worker_devices]
        return f"mirrored on {', '.join(devices)} ({replicas} replica{'s' if replicas > 1 else ''})"
    task = read_tf_config()
    return (f"multi-worker: {task.workers} workers, {replicas} replicas "
            f"(this node: {task.task_type} {task.task_index}{', chief' if task.is_chief else ''})")


def _canonical(name: str) -> str:
    match = _DEVICE.match(name)
    return f"/{match.group(1).lower()}:{int(match.group(2))}" if match else name


def scaling_note(config, replicas: int) -> str:
    """How the batch is shared and the linear learning-rate scaling suggestion.

    Args:
        config: the ``TrainingConfig`` (its ``batch_size`` is the global batch).
        replicas: replicas in sync (``strategy.num_replicas_in_sync``).
    """
    batch = config.batch_size
    rate = config.learning_rate
    if replicas <= 1:
        return f"1 replica: batch {batch}, learning rate {rate:g}"
    per_replica = batch / replicas
    share = f"{per_replica:g}" if per_replica == int(per_replica) else f"about {per_replica:.1f}"
    note = (f"global batch {batch} = {share} per replica x {replicas} replicas "
            f"(training.batch_size is the global batch). To give each replica {batch} samples, "
            f"set batch_size to {batch * replicas} and scale the learning rate linearly: "
            f"{rate:g} x {replicas} = {rate * replicas:g}")
    if batch % replicas:
        note += f"; {batch} does not divide by {replicas}, so replicas get unequal shares"
    return note


def fit_under_strategy(model, strategy) -> None:
    """Make a compiled model's ``fit`` work under a multi-worker strategy (mirrored needs nothing).

    Keras 3's TensorFlow trainer (3.15 with TensorFlow 2.21; keras-team/keras#20585) fails under
    ``MultiWorkerMirroredStrategy`` in two places, both fixed here on these two objects only:

    * before the first step it averages a whole distributed batch with ``strategy.reduce``,
      which takes single tensors, to learn the input shapes: this model builds from this
      worker's share of the first batch instead (shapes are all it needs);
    * it averages each step's scalar metrics with ``strategy.reduce("MEAN", v, axis=0)``, and a
      scalar has no axis 0: on this strategy, scalars are averaged across replicas
      (``axis=None``), which is what the step meant.
    """
    import tensorflow as tf

    if not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        return
    local = strategy.experimental_local_results

    def symbolic_build(iterator=None, data_batch=None):
        if iterator is not None:
            for _, _, batches in iterator:
                data_batch = tf.nest.map_structure(lambda value: local(value)[0], next(batches))
                break
        with strategy.scope():
            model._symbolic_build(data_batch=data_batch)

    if not getattr(strategy, "_workbench_reduce", False):
        reduce = strategy.reduce

        def reduce_scalars_across_replicas(reduce_op, value, axis=None):
            if axis is not None and all(v.shape.rank == 0 for v in local(value)):
                axis = None
            return reduce(reduce_op, value, axis)

        strategy.reduce = reduce_scalars_across_replicas
        strategy._workbench_reduce = True
    model._maybe_symbolic_build = symbolic_build
