"""Generated images of simple shapes: one object per image, with its mask and bounding box.

Each image has a noisy background of a random grey level and one object (a square, circle,
triangle, cross, diamond or ring) of a random size, place and colour, always brighter than the
background so it can be found. The same seed always gives the same images, in chunks, so a
large set never needs several full-size temporary arrays.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from workbench.data.config import SHAPE_KINDS

_CHUNK = 1024


@dataclass
class Shapes:
    """A generated set.

    Attributes:
        images: (N, H, W, 3) float32 pixel values from 0 to 255.
        labels: (N,) int32 index into ``SHAPE_KINDS``.
        masks: (N, H, W) bool, True on the object's pixels.
        boxes: (N, 4) int32 bounding boxes ``x0, y0, x1, y1`` in pixels: the object's pixels
            are the columns x0 <= x < x1 and rows y0 <= y < y1 (x1, y1 exclusive), and every
            side of the box touches the object.
    """

    images: np.ndarray
    labels: np.ndarray
    masks: np.ndarray
    boxes: np.ndarray


def make_shapes(samples: int, size: tuple[int, int], classes: int, noise: float,
                seed: int | None) -> Shapes:
    """Generate ``samples`` images of ``size`` (height, width) with ``classes`` kinds of shape.

    Args:
        samples: how many images.
        size: (height, width) in pixels, at least 12 each.
        classes: how many kinds of shape, from the start of ``SHAPE_KINDS``.
        noise: standard deviation of the pixel noise as a share of the 0-255 range.
        seed: the random seed (None: a new draw).
    """
    rng = np.random.default_rng(seed)
    height, width = size
    labels = rng.permutation(np.arange(samples) % classes).astype(np.int32)  # balanced classes
    images = np.empty((samples, height, width, 3), dtype=np.float32)
    masks = np.empty((samples, height, width), dtype=bool)
    for start in range(0, samples, _CHUNK):
        stop = min(start + _CHUNK, samples)
        images[start:stop], masks[start:stop] = _draw(rng, labels[start:stop], height, width, noise)
    return Shapes(images, labels, masks, bounding_boxes(masks))


def bounding_boxes(masks: np.ndarray) -> np.ndarray:
    """Tight boxes ``x0, y0, x1, y1`` (x1 and y1 exclusive) of (N, H, W) boolean masks."""
    rows, columns = masks.any(axis=2), masks.any(axis=1)
    y0 = np.argmax(rows, axis=1)
    y1 = rows.shape[1] - np.argmax(rows[:, ::-1], axis=1)
    x0 = np.argmax(columns, axis=1)
    x1 = columns.shape[1] - np.argmax(columns[:, ::-1], axis=1)
    return np.stack([x0, y0, x1, y1], axis=1).astype(np.int32)


def _draw(rng: np.random.Generator, labels: np.ndarray, height: int, width: int,
          noise: float) -> tuple[np.ndarray, np.ndarray]:
    n = len(labels)
    short = min(height, width)
    radius = rng.uniform(0.2, 0.4, n) * short  # half the object's size, in pixels
    # Centres keep the whole object inside the image.
    cx = rng.uniform(radius, width - radius)
    cy = rng.uniform(radius, height - radius)
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32) + 0.5  # pixel centres
    dx = xs[None] - cx[:, None, None]
    dy = ys[None] - cy[:, None, None]
    r = radius[:, None, None]
    distance = np.hypot(dx, dy)
    arm = np.maximum(r / 3, 1.0)  # cross arms and ring walls at least a pixel thick
    candidates = {
        "square": (np.abs(dx) <= r * 0.85) & (np.abs(dy) <= r * 0.85),
        "circle": distance <= r,
        "triangle": (dy >= -r) & (dy <= r) & (np.abs(dx) <= (dy + r) / 2),
        "cross": ((np.abs(dx) <= arm / 2) & (np.abs(dy) <= r))
        | ((np.abs(dy) <= arm / 2) & (np.abs(dx) <= r)),
        "diamond": np.abs(dx) + np.abs(dy) <= r,
        "ring": (distance <= r) & (distance >= r - arm),
    }
    masks = np.zeros((n, height, width), dtype=bool)
    for index, kind in enumerate(SHAPE_KINDS):
        chosen = labels == index
        if chosen.any():
            masks[chosen] = candidates[kind][chosen]
    # A dark-to-mid grey background and a colour clearly brighter than it, of varied hue: two
    # bright channels and one anywhere.
    background = rng.uniform(0, 100, n).astype(np.float32)
    colour = rng.uniform(background[:, None] + 90, 255, (n, 3)).astype(np.float32)
    free = rng.integers(0, 3, n)
    colour[np.arange(n), free] = rng.uniform(0, 255, n)
    images = np.where(masks[..., None], colour[:, None, None, :], background[:, None, None, None])
    images = images + rng.normal(0, noise * 255, images.shape).astype(np.float32)
    return np.clip(images, 0, 255).astype(np.float32), masks
