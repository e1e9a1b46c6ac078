"""Pictures in and out: scaling maps to [0, 1], fitting images to a model, heat-map overlays.

Colormaps come from matplotlib (imported lazily, Agg backend); PNG files are read and written
with Pillow.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from workbench.errors import WorkbenchError


def unit_range(maps: np.ndarray, per_sample: bool = True) -> np.ndarray:
    """Scale maps into [0, 1]: non-negative maps by their maximum (0 stays 0), others from
    their minimum to their maximum. A constant map becomes zeros.

    Args:
        maps: (N, ...) with ``per_sample``, else any array scaled as a whole.
    """
    maps = np.asarray(maps, np.float32)
    if not per_sample:
        return unit_range(maps[None], per_sample=True)[0]
    flat = maps.reshape(len(maps), -1)
    low = flat.min(axis=1, initial=np.inf, where=np.isfinite(flat)) if flat.size else np.zeros(0)
    high = flat.max(axis=1, initial=-np.inf, where=np.isfinite(flat)) if flat.size else np.zeros(0)
    low = np.where(low >= 0, 0.0, low)
    span = high - low
    safe = np.where(np.isfinite(span) & (span > 0), span, 1.0)
    scaled = (flat - low[:, None]) / safe[:, None]
    scaled[~(np.isfinite(span) & (span > 0))] = 0.0
    return np.clip(np.nan_to_num(scaled), 0.0, 1.0).reshape(maps.shape).astype(np.float32)


def resize_maps(maps: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """(N, h, w) maps resized bilinearly to (N, height, width)."""
    from workbench.backend import keras_module

    ops = keras_module().ops
    maps = np.asarray(maps, np.float32)
    if maps.shape[1:3] == tuple(size):
        return maps
    resized = ops.image.resize(maps[..., None], tuple(size), interpolation="bilinear")
    return np.asarray(ops.convert_to_numpy(resized))[..., 0]


def fit_image(image: np.ndarray, input_shape: tuple) -> tuple[np.ndarray, list[str]]:
    """Fit one image (H, W), (H, W, C) to a model's input shape (H', W', C').

    A different size is resized (bilinear), with a notice; RGB becomes grey (the mean) for a
    one-channel model and grey becomes RGB for a three-channel one, with a notice.

    Raises:
        WorkbenchError: the model does not take images, or the channels cannot be matched.
    """
    from workbench.backend import keras_module

    image = np.asarray(image, np.float32)
    if image.ndim == 2:
        image = image[..., None]
    if len(input_shape) != 3:
        raise WorkbenchError(f"the model takes inputs of shape {tuple(input_shape)}, not images "
                             "(height x width x channels)")
    if image.ndim != 3:
        raise WorkbenchError(f"an image has 2 or 3 dimensions (height, width[, channels]), "
                             f"not shape {image.shape}")
    notes = []
    height, width, channels = input_shape
    have = image.shape[-1]
    if channels is not None and have != channels:
        if channels == 1 and have in (3, 4):
            image = image[..., :3].mean(axis=-1, keepdims=True)
            notes.append("the colour image was turned grey: the model takes one channel")
        elif channels == 3 and have == 1:
            image = np.repeat(image, 3, axis=-1)
            notes.append("the grey image was repeated into RGB: the model takes three channels")
        elif channels == 3 and have == 4:
            image = image[..., :3]
            notes.append("the image's alpha channel was dropped")
        else:
            raise WorkbenchError(f"the image has {have} channels and the model takes {channels}: "
                                 "convert the image first")
    if (height, width) != (None, None) and image.shape[:2] != (height, width):
        target = (height or image.shape[0], width or image.shape[1])
        notes.append(f"the image was resized from {image.shape[1]}x{image.shape[0]} to "
                     f"{target[1]}x{target[0]} (width x height), the model's input size")
        ops = keras_module().ops
        image = np.asarray(ops.convert_to_numpy(ops.image.resize(image, target,
                                                                 interpolation="bilinear")))
    return image.astype(np.float32), notes


def load_image(path: str | Path) -> np.ndarray:
    """An image file as (H, W, C) float32 pixel values 0-255 (C is 1, 3 or 4).

    Raises:
        WorkbenchError: missing or unreadable file.
    """
    from PIL import Image, UnidentifiedImageError

    path = Path(path)
    if not path.exists():
        raise WorkbenchError(f"{path}: no such image file")
    try:
        with Image.open(path) as picture:
            mode = {"L": "L", "RGB": "RGB", "RGBA": "RGBA", "I;16": "I", "I": "I"}.get(
                picture.mode, "RGB")
            array = np.asarray(picture.convert(mode), np.float32)
    except (UnidentifiedImageError, OSError) as error:
        raise WorkbenchError(f"{path}: not a readable image ({error})") from None
    return array if array.ndim == 3 else array[..., None]


def prepare_pixels(image: np.ndarray, model, dataset=None,
                   pixels: str = "auto") -> tuple[np.ndarray, list[str], bool]:
    """A picture's 0-255 pixels (``fit_image``'s result) as the model takes its inputs.

    Args:
        image: (H, W, C) values 0-255, shaped like one model input.
        model: the model they are for (a first Rescaling or Normalization layer means it
            takes 0-255 pixels itself).
        dataset: the data the model trained on, when known: the picture is prepared as they
            were (the same fitted preprocessing: divided by 16 for digits, standardized, ...).
        pixels: "auto" (as above; without the data, divided by 255 unless the model rescales
            itself), "unit" (divided by 255) or "raw" (as they are).

    Returns:
        the prepared float32 input, notes for people on what was done, and whether the
        pixels were divided by 255 as a guess (the model's own data were not known).
    """
    if pixels not in ("auto", "unit", "raw"):
        raise WorkbenchError(f"pixels: choose auto, unit or raw, not {pixels!r}")
    image = np.asarray(image, np.float32)
    if pixels == "raw":
        return image, [], False
    pre = getattr(dataset, "preprocessor", None) if pixels == "auto" else None
    if pre is not None:
        known = getattr(pre, "known_max", None) or 255.0
        prepared = np.asarray(pre.transform(image[None] / 255.0 * known)[0], np.float32)
        applied = list(getattr(pre, "applied", None) or [])
        return prepared, ["prepared like the model's training data: " + "; ".join(applied)
                          if applied else "passed as the model's training data were (unscaled)"], False
    if pixels == "auto" and _starts_with_rescaling(model):
        return image, ["pixels passed as 0-255: the model rescales them itself"], False
    return image / 255.0, ["pixels divided by 255"], pixels == "auto"


def _starts_with_rescaling(model) -> bool:
    from workbench.inspect.layers import walk

    layers = walk(model)
    return bool(layers) and type(layers[0][1]).__name__ in ("Rescaling", "Normalization")


def load_unit_image(path: str | Path) -> np.ndarray:
    """An image file as (H, W, C) float32 values in [0, 1]: 8-bit pixels divided by 255 (16-bit
    ones by their largest value).

    Raises:
        WorkbenchError: missing or unreadable file.
    """
    image = load_image(path)
    top = float(image.max()) if image.size else 0.0
    return image / (255.0 if top <= 255 else top)


def colorize(heat: np.ndarray, colormap: str = "jet") -> np.ndarray:
    """(H, W) values in [0, 1] as (H, W, 3) float RGB in [0, 1] through a matplotlib colormap.

    Raises:
        WorkbenchError: an unknown colormap name (listing a few known ones).
    """
    import matplotlib

    matplotlib.use("Agg")
    try:
        cmap = matplotlib.colormaps[colormap]
    except KeyError:
        raise WorkbenchError(f"unknown colormap {colormap!r}: try jet, viridis, inferno, magma, "
                             "turbo or hot") from None
    return cmap(np.clip(np.asarray(heat, np.float32), 0, 1))[..., :3].astype(np.float32)


def display_image(image: np.ndarray) -> np.ndarray:
    """Any image (H, W[, C]) scaled to [0, 1] as (H, W, 3) RGB, for showing."""
    image = np.asarray(image, np.float32)
    if image.ndim == 2:
        image = image[..., None]
    if image.shape[-1] == 1:
        image = np.repeat(image, 3, axis=-1)
    image = image[..., :3]
    low, high = float(image.min()), float(image.max())
    if low >= 0 and high <= 1:
        return image
    if low >= 0 and high <= 255 and high > 1:
        return image / 255.0
    return (image - low) / (high - low) if high > low else np.zeros_like(image)


def overlay(image: np.ndarray, heat: np.ndarray, colormap: str = "jet",
            alpha: float = 0.5) -> np.ndarray:
    """A heat map laid over an image, as (H, W, 3) uint8 RGB of the image's size.

    Args:
        image: (H, W) or (H, W, C), pixel values in [0, 1], [0, 255] or any range.
        heat: (h, w) values in [0, 1], resized to the image when needed.
        colormap: a matplotlib colormap name.
        alpha: the heat map's weight, 0 (image only) to 1 (heat map only).
    """
    if not 0 <= alpha <= 1:
        raise WorkbenchError(f"alpha must be between 0 and 1 (got {alpha})")
    base = display_image(image)
    heat = np.asarray(heat, np.float32)
    if heat.shape != base.shape[:2]:
        heat = resize_maps(heat[None], base.shape[:2])[0]
    mixed = (1 - alpha) * base + alpha * colorize(np.clip(heat, 0, 1), colormap)
    return np.clip(np.round(mixed * 255), 0, 255).astype(np.uint8)


# Between tiles: a mid grey shows against white pixels (a saturated activation, a bright
# kernel) and black ones alike; white gaps vanished against bright tile edges.
GUTTER = 0.55


def grid(tiles: np.ndarray, columns: int | None = None, gap: int = 1,
         background: float = GUTTER) -> np.ndarray:
    """Tiles (K, h, w[, C]) in [0, 1] arranged in rows, ``gap`` pixels of ``background``
    between them: (H, W[, C]). A last row left short is ``background`` too."""
    tiles = np.asarray(tiles, np.float32)
    count = len(tiles)
    if count == 0:
        raise WorkbenchError("nothing to arrange: no tiles")
    columns = columns or int(np.ceil(np.sqrt(count)))
    rows = int(np.ceil(count / columns))
    h, w = tiles.shape[1:3]
    shape = (rows * (h + gap) - gap, columns * (w + gap) - gap) + tiles.shape[3:]
    canvas = np.full(shape, background, np.float32)
    for k, tile in enumerate(tiles):
        r, c = divmod(k, columns)
        canvas[r * (h + gap): r * (h + gap) + h, c * (w + gap): c * (w + gap) + w] = tile
    return canvas


def captioned_grid(tiles: list[np.ndarray], captions: list[str], columns: int = 4,
                   least: int = 192) -> np.ndarray:
    """Pictures with a caption under each, in rows, as one (H, W, 3) picture in [0, 1] to save.

    Args:
        tiles: (h, w, 3) pictures in [0, 1], all of one size (a model's input: maybe 8x8).
        captions: a line of text for each (what it shows).
        columns: pictures per row.
        least: each picture is scaled up by whole pixels until its longer side is this or more.
    """
    from PIL import Image, ImageDraw, ImageFont

    if not tiles or len(tiles) != len(captions):
        raise WorkbenchError("captioned_grid needs one caption per picture, and a picture")
    big = [enlarge(np.asarray(tile, np.float32), least) for tile in tiles]
    font = ImageFont.load_default()
    line = 18  # room for one line of the default font
    cells = []
    for picture, caption in zip(big, captions):
        height, width = picture.shape[:2]
        cell = Image.new("RGB", (width, height + line), "white")
        cell.paste(Image.fromarray(np.round(np.clip(picture, 0, 1) * 255).astype(np.uint8)), (0, 0))
        ImageDraw.Draw(cell).text((2, height + 3), _fitted(caption, font, width), fill="black",
                                  font=font)
        cells.append(np.asarray(cell, np.float32) / 255)
    return grid(np.stack(cells), columns=min(columns, len(cells)), gap=6, background=1.0)  # a white sheet


def _fitted(text: str, font, width: int) -> str:
    """``text`` cut (with an ellipsis) to fit ``width`` pixels in ``font``."""
    if font.getlength(text) <= width - 4:
        return text
    while text and font.getlength(text + "…") > width - 4:
        text = text[:-1]
    return text + "…"


def enlarge(picture: np.ndarray, least: int = 256) -> np.ndarray:
    """A small picture scaled up by whole pixels (nearest) until its longer side is ``least``
    or more, so tiny maps are visible when saved."""
    picture = np.asarray(picture)
    factor = max(1, int(np.ceil(least / max(picture.shape[:2]))))
    return picture.repeat(factor, axis=0).repeat(factor, axis=1) if factor > 1 else picture


def save_picture(path: str | Path, picture: np.ndarray) -> Path:
    """Write (H, W), (H, W, 1) or (H, W, 3) values (uint8, or floats in [0, 1]) as a PNG.

    Raises:
        WorkbenchError: the folder does not exist or the file cannot be written.
    """
    from PIL import Image

    from workbench.fileio import write_atomic

    path = Path(path)
    if not path.parent.exists():
        raise WorkbenchError(f"{path}: the folder {path.parent} does not exist")
    picture = np.asarray(picture)
    if picture.dtype != np.uint8:
        picture = np.clip(np.round(np.asarray(picture, np.float32) * 255), 0, 255).astype(np.uint8)
    if picture.ndim == 3 and picture.shape[-1] == 1:
        picture = picture[..., 0]

    def _write(tmp: str) -> None:
        Image.fromarray(picture).save(tmp, format="PNG")

    try:
        write_atomic(path, _write)
    except OSError as error:
        raise WorkbenchError(f"{path}: cannot write: {error.strerror or error}") from None
    return path
