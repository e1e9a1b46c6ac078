"""How fast the model canvas opens and pans a ResNet50-sized model.

Measures, on an imported ``keras.applications.ResNet50(weights=None)`` saved as ``.keras``:

* Keras' own ``load_model`` of the file (the baseline, side by side);
* opening it in the main window: load, import to a graph, layout, drawing, first validation;
* the frame time while panning across the whole graph at the zoom a user reads it (100 %)
  and zoomed out to fit, repainting the viewport each step.

Goals (issue 4): open under 2 s, panning at 30 frames per second or better.

Run: ``QT_QPA_PLATFORM=offscreen python benchmarks/canvas.py`` (or under Xvfb for a real
window; ``--json`` prints the numbers as JSON).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


def pan_frames(window, steps: int) -> list[float]:
    """Scroll the canvas in ``steps`` steps across its width; time each repaint."""
    canvas = window.canvas
    bar = canvas.horizontalScrollBar()
    rect = canvas.scene().itemsBoundingRect()
    canvas.centerOn(rect.left(), rect.center().y())
    start, end = bar.value(), bar.value() + int(rect.width() * canvas.transform().m11())
    times = []
    for i in range(steps):
        bar.setValue(int(start + (end - start) * i / max(1, steps - 1)))
        began = time.perf_counter()
        canvas.viewport().repaint()
        times.append(time.perf_counter() - began)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=120, help="pan steps per measurement")
    parser.add_argument("--json", action="store_true", help="print JSON")
    args = parser.parse_args()

    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QApplication

    from widgets.main_window import MainWindow
    from widgets.recovery import RecoveryStore
    from workbench.backend import keras_module
    from workbench.experiment import DEFAULT_EXPERIMENT, Experiment

    app = QApplication.instance() or QApplication([])
    keras = keras_module()
    folder = Path(tempfile.mkdtemp())
    path = folder / "resnet50.keras"
    keras.applications.ResNet50(weights=None).save(path)

    began = time.perf_counter()
    keras.saving.load_model(path, compile=False)
    keras_load = time.perf_counter() - began

    settings = QSettings(str(folder / "settings.ini"), QSettings.Format.IniFormat)
    window = MainWindow(Experiment.load(DEFAULT_EXPERIMENT), settings,
                        RecoveryStore(folder / "recovery.json"))
    window.resize(1280, 800)
    window.show()
    window.loader.is_loaded = True  # Keras is imported above; skip the background import
    window.document.backend_ready()
    app.processEvents()

    began = time.perf_counter()
    window.open_path(path)
    app.processEvents()
    window.canvas.viewport().repaint()
    open_time = time.perf_counter() - began
    nodes = len(window.document.graph)

    window.canvas.resetTransform()
    readable = pan_frames(window, args.steps)
    window.canvas.fit()
    overview = pan_frames(window, max(10, args.steps // 4))

    result = {
        "model": "ResNet50", "layers": nodes,
        "keras_load_model_s": round(keras_load, 3),
        "open_in_window_s": round(open_time, 3),
        "open_ratio_to_keras_load": round(open_time / keras_load, 2),
        "pan_100pct_frame_ms_median": round(statistics.median(readable) * 1000, 2),
        "pan_100pct_frame_ms_p95": round(sorted(readable)[int(0.95 * len(readable))] * 1000, 2),
        "pan_fit_frame_ms_median": round(statistics.median(overview) * 1000, 2),
        "open_goal_met": open_time < 2.0,
        "pan_goal_met": sorted(readable)[int(0.95 * len(readable))] < 1 / 30,
    }
    window.document.undo_stack.setClean()
    window.close()
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(f"ResNet50 ({nodes} layers)")
    print(f"  Keras load_model (baseline)     {keras_load:8.3f} s")
    print(f"  open in the workbench window    {open_time:8.3f} s   "
          f"({result['open_ratio_to_keras_load']}x Keras load)  goal < 2 s: "
          f"{'MET' if result['open_goal_met'] else 'MISSED'}")
    p95 = result["pan_100pct_frame_ms_p95"]
    print(f"  pan at 100 % zoom, frame time   {result['pan_100pct_frame_ms_median']:8.2f} ms "
          f"median, {p95:.2f} ms p95 = {1000 / max(p95, 1e-3):.0f} fps  goal >= 30 fps: "
          f"{'MET' if result['pan_goal_met'] else 'MISSED'}")
    print(f"  pan zoomed to fit, frame time   {result['pan_fit_frame_ms_median']:8.2f} ms median")


if __name__ == "__main__":
    main()
