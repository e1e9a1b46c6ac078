"""Make the sample pictures for style transfer: a landscape (content) and swirling strokes (style).

Both are drawn from code with NumPy, seeded, so the files are the project's own and can be made
again byte for byte: ``python assets/samples/make_samples.py [FOLDER]`` (default: this folder).

* ``content.png`` (256x192): a procedural landscape: sky, sun, two mountain ridges, a lake,
  a meadow and a small house.
* ``style.png`` (256x256): a swirl of coloured brush strokes: bands that turn around a few
  centres, broken by seeded stroke-shaped noise.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent


def landscape(width: int = 256, height: int = 192, seed: int = 7) -> np.ndarray:
    """The content picture: (height, width, 3) uint8."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    u, v = x / width, y / height
    sky = np.stack([0.35 + 0.4 * v, 0.55 + 0.35 * v, 0.95 - 0.1 * v], axis=-1)
    image = sky
    sun = (u - 0.75) ** 2 + ((v - 0.22) * height / width) ** 2 < 0.07 ** 2
    image[sun] = (1.0, 0.85, 0.3)

    def ridge(base, amplitude, frequencies, phase):
        line = base + sum(amplitude / (k + 1) * np.sin(2 * np.pi * f * u[0] + phase * (k + 1))
                          for k, f in enumerate(frequencies))
        return line[None, :]

    far = v > ridge(0.45, 0.06, (1.3, 3.1, 7.7), 0.4)
    image[far] = (0.45, 0.45, 0.62)
    snow = far & (v < ridge(0.45, 0.06, (1.3, 3.1, 7.7), 0.4) + 0.025)
    image[snow] = (0.95, 0.95, 0.97)
    near = v > ridge(0.55, 0.05, (0.9, 2.3, 5.3), 1.7)
    image[near] = (0.25, 0.42, 0.28)
    lake = (v > 0.68) & (v < 0.8) & (np.abs(u - 0.35) < 0.28 - 2.0 * (v - 0.74) ** 2 * 10)
    meadow = v > 0.68
    image[meadow] = np.stack([0.35 + 0.1 * v, 0.62 - 0.1 * v, 0.25 + 0 * v], axis=-1)[meadow]
    image[lake] = np.stack([0.25 + 0 * v, 0.45 + 0.3 * (v - 0.68), 0.75 + 0 * v], axis=-1)[lake]
    house = (u > 0.68) & (u < 0.8) & (v > 0.7) & (v < 0.82)
    image[house] = (0.8, 0.3, 0.25)
    roof = (v <= 0.7) & (v > 0.62) & (np.abs(u - 0.74) < (v - 0.62) * 0.06 / 0.08 + 0.005)
    image[roof] = (0.45, 0.2, 0.15)
    door = (u > 0.725) & (u < 0.755) & (v > 0.76) & (v < 0.82)
    image[door] = (0.3, 0.18, 0.1)
    image = image + rng.normal(0, 0.015, image.shape)  # a little grain, like a photograph
    return np.clip(np.round(image * 255), 0, 255).astype(np.uint8)


def swirls(size: int = 256, seed: int = 3) -> np.ndarray:
    """The style picture: (size, size, 3) uint8."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:size, 0:size].astype(np.float32) / size
    angle = np.zeros_like(x)
    for cx, cy, turn in ((0.3, 0.35, 4.0), (0.72, 0.6, -3.5), (0.45, 0.85, 2.5)):
        r = np.hypot(x - cx, y - cy) + 1e-3
        angle += turn * np.exp(-r / 0.3) + np.arctan2(y - cy, x - cx)  # whole turns: no seam
    # brush strokes: noise smeared along one direction, then thresholded into streaks
    noise = rng.random((size, size)).astype(np.float32)
    for _ in range(6):
        noise = (noise + np.roll(noise, 1, axis=1) + np.roll(noise, 2, axis=1)
                 + np.roll(noise, 1, axis=0)) / 4
    bands = np.sin(3 * angle + 12 * x * y + 5 * noise)
    palette = np.array([[0.08, 0.12, 0.35], [0.15, 0.35, 0.7], [0.95, 0.8, 0.25],
                        [0.9, 0.45, 0.1], [0.2, 0.55, 0.6]], np.float32)
    index = (bands + 1) / 2 * (len(palette) - 1)
    low = np.floor(index).astype(int).clip(0, len(palette) - 2)
    share = (index - low)[..., None]
    image = palette[low] * (1 - share) + palette[low + 1] * share
    strokes = (noise - noise.mean()) / noise.std()
    image = image * (1 + 0.25 * strokes[..., None])
    return np.clip(np.round(image * 255), 0, 255).astype(np.uint8)


def make_samples(folder: str | Path = HERE) -> list[Path]:
    """Write ``content.png`` and ``style.png`` into ``folder``; returns their paths."""
    from PIL import Image

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, picture in (("content.png", landscape()), ("style.png", swirls())):
        path = folder / name
        Image.fromarray(picture).save(path, format="PNG")
        written.append(path)
    return written


if __name__ == "__main__":
    for path in make_samples(sys.argv[1] if len(sys.argv) > 1 else HERE):
        print(f"wrote {path}")
