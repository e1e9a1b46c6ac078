"""NumPy pictures as Qt images: the one conversion the panels share."""

from __future__ import annotations

import numpy as np
from PySide6.QtGui import QImage, QPixmap


def to_qimage(image: np.ndarray) -> QImage:
    """A uint8 (H, W), (H, W, 1), (H, W, 3) or (H, W, 4) array as a QImage (a deep copy)."""
    if image.ndim == 3 and image.shape[-1] == 1:
        image = image[..., 0]
    if image.ndim == 3 and image.shape[-1] not in (3, 4):  # other channel counts: the first
        image = image[..., 0]
    if image.ndim == 1:  # a vector: one row of pixels
        image = image[np.newaxis, :]
    if image.ndim > 3:
        image = image.reshape(image.shape[0], -1)
    image = np.ascontiguousarray(image)
    height, width = image.shape[:2]
    if image.ndim == 2:
        qimage = QImage(image.data, width, height, image.strides[0], QImage.Format.Format_Grayscale8)
    elif image.shape[-1] == 3:
        qimage = QImage(image.data, width, height, image.strides[0], QImage.Format.Format_RGB888)
    else:
        qimage = QImage(image.data, width, height, image.strides[0], QImage.Format.Format_RGBA8888)
    return qimage.copy()  # the array's memory goes away when this function returns


def to_pixmap(image: np.ndarray, least: int = 0) -> QPixmap:
    """A uint8 picture as a pixmap, scaled up by whole pixels (no blur) to at least ``least``
    pixels on its longer side: an 8x8 saliency map stays readable."""
    pixmap = QPixmap.fromImage(to_qimage(image))
    longest = max(pixmap.width(), pixmap.height(), 1)
    if least and longest < least:
        factor = -(-least // longest)
        pixmap = pixmap.scaled(pixmap.width() * factor, pixmap.height() * factor)
    return pixmap
