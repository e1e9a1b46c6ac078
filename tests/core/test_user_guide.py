"""The user guide shows every activity tab, with pictures made by ``docs/make_screenshots.py``
(the real application, ``main.py --screenshot``)."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

from widgets.app import ACTIVITIES

ROOT = Path(__file__).resolve().parents[2]
GUIDE = ROOT / "docs" / "user-guide.md"


def _shots_module():
    spec = importlib.util.spec_from_file_location("make_screenshots", ROOT / "docs" / "make_screenshots.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_tab_has_a_picture_made_by_the_script_and_shown_in_the_guide():
    shots = _shots_module()
    guide = GUIDE.read_text(encoding="utf-8")
    missing = [panel for panel in ACTIVITIES if panel not in shots.PANEL_SHOTS]
    assert not missing, f"tabs without a picture in docs/make_screenshots.py: {missing}"
    for panel, name in shots.PANEL_SHOTS.items():
        assert (shots.FOLDER / name).is_file(), f"{name} ({panel}) not made yet"
        assert f"screenshots/{name}" in guide, f"{name} ({panel}) is not shown in the user guide"


def test_every_picture_the_guide_shows_exists():
    guide = GUIDE.read_text(encoding="utf-8")
    for name in re.findall(r"\]\((screenshots/[^)]+)\)", guide):
        assert (GUIDE.parent / name).is_file(), f"the guide shows {name}, which does not exist"
