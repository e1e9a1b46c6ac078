"""Make the user guide's pictures again: ``python docs/make_screenshots.py [NAME ...]``.

Each picture is the real application started by ``python main.py ... --screenshot`` at
1280x800, offscreen; the activity tabs are filled first with ``--demo`` (the bundled default
experiment trained, then the tab's own action run). Give names (``style.png``) to make only
those. ``tests/core/test_user_guide.py`` checks that every tab has a picture here and in the
guide.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FOLDER = ROOT / "docs" / "screenshots"

# picture -> the arguments of main.py that make it
SHOTS: dict[str, list[str]] = {
    "default.png": [],
    "template-inception.png": ["experiments/templates/inception.json", "--select", "mixed"],
    "data-panel.png": ["--panel", "data"],
    "train-panel.png": ["--panel", "train", "--demo"],
    "train-vae.png": ["experiments/presets/generative/vae.json", "--panel", "train", "--demo"],
    "lr-finder.png": ["--panel", "lr", "--demo"],
    "search.png": ["--panel", "search", "--demo"],
    "inspect-panel.png": ["--panel", "inspect", "--demo"],
    "embeddings.png": ["--panel", "embeddings", "--demo"],
    "evaluate.png": ["--panel", "evaluate", "--demo"],
    "style.png": ["--panel", "style", "--demo"],
    "attack.png": ["--panel", "attack", "--demo"],
    "runs-panel.png": ["--panel", "runs", "--demo"],
    "lessons.png": ["--panel", "lessons", "--demo"],
}
# The activity tab each picture shows (the guide's test wants one per tab).
PANEL_SHOTS = {args[args.index("--panel") + 1]: name for name, args in reversed(SHOTS.items())
               if "--panel" in args}


def make(name: str) -> int:
    """Make one picture; returns main.py's exit code."""
    command = [sys.executable, str(ROOT / "main.py"), *SHOTS[name], "--screenshot", str(FOLDER / name)]
    environment = {**os.environ, "QT_QPA_PLATFORM": os.environ.get("QT_QPA_PLATFORM", "offscreen")}
    print(" ".join(command[1:]), flush=True)
    return subprocess.run(command, cwd=ROOT, env=environment).returncode


def main(names: list[str]) -> int:
    unknown = [name for name in names if name not in SHOTS]
    if unknown:
        print(f"unknown picture(s): {', '.join(unknown)}; known: {', '.join(SHOTS)}", file=sys.stderr)
        return 2
    failed = [name for name in names or list(SHOTS) if make(name) != 0]
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
