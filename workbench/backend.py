"""The one place that imports Keras and talks to the backend.

TensorFlow takes seconds to import, so nothing imports Keras at module level: callers use
``keras_module()`` when they first need it. The gradient helpers of the inspection tools
(``tf.GradientTape``, ``tf.function``) live beside the tools in ``workbench/inspect/gradients.py``,
the one other backend-specific module, so that JAX and PyTorch backends can be added there
without touching the algorithms.
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
from types import ModuleType

_ANSI = re.compile(r"\x1b\[[0-9;]*m")


@contextlib.contextmanager
def quiet_native_stderr():
    """Silence file descriptor 2 for a moment.

    TensorFlow prints start-up notes (oneDNN, "no CUDA drivers") from C++ before its logging
    is configured, so no environment variable hides them; they would bury our one-line
    messages. Set WORKBENCH_DEBUG=1 to see them.
    """
    if os.environ.get("WORKBENCH_DEBUG"):
        yield
        return
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):  # no real stderr (some GUI launchers): nothing to hide
        yield
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    try:
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def keras_module() -> ModuleType:
    """Import Keras (quietly, the first time) and return the module."""
    if "keras" in sys.modules and getattr(sys.modules["keras"], "ops", None) is not None:
        return sys.modules["keras"]
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    with quiet_native_stderr():
        import keras

        keras.ops.convert_to_tensor(0)  # initialises the devices, which prints too
    return keras


def keras_is_loaded() -> bool:
    """Whether Keras has been imported in this process already."""
    return "keras" in sys.modules


def clean_keras_message(error: BaseException) -> str:
    """Turn a Keras or TensorFlow exception into one or two readable sentences.

    Keras wraps layer errors in "Exception encountered when calling X.call()" plus a dump of
    the arguments, with terminal colour codes; TensorFlow puts the reason of an error inside a
    compiled step ("Incompatible shapes: [32] vs. [32,10]") after a "Graph execution error:"
    header and a stack trace, and follows it with node dumps. The reason is what people need.
    """
    text = _without_tensorflow_noise(_ANSI.sub("", str(error)))
    paragraphs = [" ".join(p.split()) for p in re.split(r"\n\s*\n", text) if p.strip()]
    useful = [p for p in paragraphs if not p.startswith(_WRAPPER_HEADERS)]
    chosen = useful or paragraphs or [type(error).__name__]
    message = chosen[0]
    if message.endswith(":") and len(chosen) > 1:  # a header announcing the reason below it
        message += " " + chosen[1]
    if len(message) > 300:
        message = message[:297] + "..."
    return message


# Paragraphs that wrap an error rather than say what it is.
_WRAPPER_HEADERS = ("Exception encountered when calling", "Arguments received by",
                    "Graph execution error", "Detected at node", "Traceback (most recent call last)")
# TensorFlow's descriptions of the op that failed: "\t [[{{node sub}}]]", "[Op:__inference_f_12]",
# "{{function_node __wrapped__Sub_device_/job:localhost/...}}", "for '{{node x}} = Op[T=...](a, b)'".
_OP_DUMPS = re.compile(r"\s*\[\[\{\{node [^}]*\}\}\]\]|\s*\[Op:[^\]]*\]( name: ?\S*)?"
                       r"|\{\{function_node [^}]*\}\}\s*| for '\{\{node [^}]*\}\} = [^']*'")
_TRACE_FILE = re.compile(r'^\s*File ".*", line \d+')


def _without_tensorflow_noise(text: str) -> str:
    """``text`` without stack-trace lines (each ``File "...", line N`` and the code line under
    it) and op dumps."""
    kept: list[str] = []
    after_file = False
    for line in text.splitlines():
        if _TRACE_FILE.match(line):
            after_file = True
            continue
        if after_file and line.startswith("    ") and line.strip():  # the traced code line
            after_file = False
            continue
        after_file = False
        kept.append(line)
    return _OP_DUMPS.sub("", "\n".join(kept)).strip()


def use_cheap_initializers(layer) -> None:
    """Make ``layer`` (and the layers inside it) initialise its weights with zeros.

    Shape inference builds every layer, and TensorFlow allocates and fills real variables on
    build; random initializers (Glorot, orthogonal) cost tens of milliseconds on large
    layers. Shapes and parameter counts do not depend on the values, so the validator swaps
    in ``Zeros`` after the layer was created (its own initializer arguments were already
    checked by the constructor).
    """
    keras = keras_module()
    zeros = keras.initializers.Zeros()
    layers = [layer]
    if hasattr(layer, "_flatten_layers"):
        layers += list(layer._flatten_layers(include_self=False))
    for item in layers:
        for name, value in list(vars(item).items()):
            if name.endswith("_initializer") and isinstance(value, keras.initializers.Initializer):
                setattr(item, name, zeros)


@contextlib.contextmanager
def op_fusion_off():
    """TensorFlow's graph optimizer without its op-fusion pass ("remapper") for a while.

    On a GAN's generator step the pass tries to fuse a discriminator's Conv2D, bias and
    LeakyReLU into one op while the step's gradient still reads the bias output; it gives up
    on that graph and prints "remapper failed: INVALID_ARGUMENT ..." as an error on the
    terminal, in the middle of the progress lines. Having given up it fused nothing there, so
    turning it off for the training costs nothing. Other backends: nothing to do.
    """
    keras = keras_module()
    if keras.backend.backend() != "tensorflow":
        yield
        return
    import tensorflow as tf

    before = tf.config.optimizer.get_experimental_options().get("remapping", True)
    tf.config.optimizer.set_experimental_options({"remapping": False})
    try:
        yield
    finally:
        tf.config.optimizer.set_experimental_options({"remapping": before})


def usable_cores() -> int:
    """CPU cores this process may run on (a container or ``taskset`` may allow fewer than the
    machine has)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


def available_devices() -> list[str]:
    """Devices training can run on: "gpu:0", "gpu:1", ... then "cpu"."""
    keras = keras_module()
    if keras.backend.backend() != "tensorflow":
        return ["cpu"]
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    return [f"gpu:{i}" for i in range(len(gpus))] + ["cpu"]


def resolve_device(choice: str) -> str:
    """"auto" becomes the first GPU when there is one, else "cpu"; a missing GPU is an error."""
    from workbench.errors import WorkbenchError

    devices = available_devices()
    if choice == "auto":
        return devices[0]
    if choice not in devices:
        raise WorkbenchError(
            f"device {choice!r} is not available here (found: {', '.join(devices)}); "
            "choose 'auto' or 'cpu'"
        )
    return choice


def device_scope(device: str):
    """A context in which Keras places its work on ``device`` ("cpu" or "gpu:N")."""
    keras = keras_module()
    if keras.backend.backend() != "tensorflow":
        return contextlib.nullcontext()
    import tensorflow as tf

    return tf.device("/CPU:0" if device == "cpu" else f"/GPU:{device.split(':')[1]}")


def library_versions() -> dict[str, str]:
    """Versions that decide how a run behaves, recorded with every run."""
    import platform

    import numpy

    keras = keras_module()
    versions = {"python": platform.python_version(), "keras": keras.__version__,
                "numpy": numpy.__version__, "backend": keras.backend.backend()}
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        versions["tensorflow"] = tf.__version__
    return versions


_UNSAFE_ALLOWED = False


def allow_unsafe_deserialization() -> None:
    """The user trusts a model with Python code in it (a Lambda layer): let Keras rebuild
    such layers for the rest of this process. Asked for explicitly (``--unsafe``, or Yes in
    the GUI's prompt) and never turned on by default."""
    global _UNSAFE_ALLOWED
    _UNSAFE_ALLOWED = True
    keras_module().config.enable_unsafe_deserialization()


def unsafe_allowed() -> bool:
    return _UNSAFE_ALLOWED
