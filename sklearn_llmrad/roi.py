"""Geometric regions of interest that stand in for a mask.

Datasets such as mini-MIAS (circles) and VinDr-Mammo (boxes) publish lesion
locations rather than pixel masks, and INbreast publishes contours. The
``mask`` column of ``X`` may hold one of these objects; the preprocessor
rasterises it onto the image grid. Coordinates are pixel (row, column) of the
image as stored, origin top-left.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["CircleROI", "BoxROI", "PolygonROI", "rasterize_roi"]


def _check_finite(roi, *values):
    flat = np.concatenate([np.ravel(np.asarray(v, dtype=float)) for v in values])
    if not np.isfinite(flat).all():
        raise ValueError(f"{type(roi).__name__} has non-finite coordinates: {roi!r}")


@dataclass(frozen=True)
class CircleROI:
    """A circle: centre ``(row, col)`` and ``radius`` in pixels.

    Examples
    --------
    >>> CircleROI(row=5, col=5, radius=2).rasterize((10, 10)).sum().item()
    13
    """

    row: float
    col: float
    radius: float

    def __post_init__(self):
        _check_finite(self, self.row, self.col, self.radius)

    def rasterize(self, shape):
        rr, cc = np.ogrid[: shape[0], : shape[1]]
        inside = (rr - self.row) ** 2 + (cc - self.col) ** 2 <= self.radius**2
        return inside.astype(np.uint8)


@dataclass(frozen=True)
class BoxROI:
    """An axis-aligned box, rows ``row_min..row_max`` and columns ``col_min..col_max``
    (inclusive, pixels).

    Examples
    --------
    >>> BoxROI(row_min=1, col_min=1, row_max=3, col_max=4).rasterize((6, 6)).sum().item()
    12
    """

    row_min: float
    col_min: float
    row_max: float
    col_max: float

    def __post_init__(self):
        _check_finite(self, self.row_min, self.col_min, self.row_max, self.col_max)

    def rasterize(self, shape):
        mask = np.zeros(shape, dtype=np.uint8)
        r0 = max(int(np.floor(self.row_min)), 0)
        c0 = max(int(np.floor(self.col_min)), 0)
        r1 = min(int(np.ceil(self.row_max)), shape[0] - 1)
        c1 = min(int(np.ceil(self.col_max)), shape[1] - 1)
        if r1 >= r0 and c1 >= c0:
            mask[r0 : r1 + 1, c0 : c1 + 1] = 1
        return mask


@dataclass(frozen=True)
class PolygonROI:
    """A closed contour given by vertex ``rows`` and ``cols`` (pixels).

    Examples
    --------
    >>> PolygonROI(rows=(1, 1, 5, 5), cols=(1, 5, 5, 1)).rasterize((8, 8)).sum().item()
    25
    """

    rows: tuple
    cols: tuple

    def __post_init__(self):
        if len(self.rows) != len(self.cols):
            raise ValueError(f"PolygonROI needs as many rows as cols, got {len(self.rows)} and {len(self.cols)}")
        _check_finite(self, self.rows, self.cols)

    def rasterize(self, shape):
        from skimage.draw import polygon, polygon_perimeter

        mask = np.zeros(shape, dtype=np.uint8)
        rr, cc = polygon(np.asarray(self.rows), np.asarray(self.cols), shape=shape)
        mask[rr, cc] = 1
        rr, cc = polygon_perimeter(np.asarray(self.rows), np.asarray(self.cols), shape=shape)
        mask[rr, cc] = 1
        return mask


def rasterize_roi(roi, shape):
    """Return a uint8 0/1 mask of ``shape`` for a geometric ROI.

    Examples
    --------
    >>> rasterize_roi(BoxROI(0, 0, 1, 1), (3, 3)).tolist()
    [[1, 1, 0], [1, 1, 0], [0, 0, 0]]
    """
    if not hasattr(roi, "rasterize"):
        raise TypeError(f"not a geometric ROI: {type(roi).__name__}")
    return roi.rasterize(tuple(int(s) for s in shape))
