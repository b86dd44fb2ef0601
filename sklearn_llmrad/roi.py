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

__all__ = ["BoxROI", "CircleROI", "PolygonROI", "rasterize_roi"]


def _check_finite(roi, *values):
    flat = np.concatenate([np.ravel(np.asarray(v, dtype=float)) for v in values])
    if not np.isfinite(flat).all():
        raise ValueError(f"{type(roi).__name__} has non-finite coordinates: {roi!r}")


@dataclass(frozen=True)
class CircleROI:
    """A circle: centre ``(row, col)`` and ``radius`` in pixels.

    Parameters
    ----------
    row, col : float
        The centre (row and column, pixels).
    radius : float
        In pixels.

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
        """The pixels within ``radius`` of the centre, as a 0/1 mask.

        Parameters
        ----------
        shape : tuple of int
            ``(height, width)`` of the image; the circle is clipped to it.

        Returns
        -------
        ndarray of uint8
            Of shape ``shape``.
        """
        rr, cc = np.ogrid[: shape[0], : shape[1]]
        inside = (rr - self.row) ** 2 + (cc - self.col) ** 2 <= self.radius**2
        return inside.astype(np.uint8)


@dataclass(frozen=True)
class BoxROI:
    """An axis-aligned box of pixels, its bounds included.

    Parameters
    ----------
    row_min, col_min : float
        The top-left corner (row and column, pixels).
    row_max, col_max : float
        The bottom-right corner, included in the box.

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
        """The box's pixels (bounds rounded outwards), as a 0/1 mask.

        Parameters
        ----------
        shape : tuple of int
            ``(height, width)`` of the image; the box is clipped to it.

        Returns
        -------
        ndarray of uint8
            Of shape ``shape``; all zero when the box lies outside the image.
        """
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

    Parameters
    ----------
    rows, cols : tuple of float
        The vertices' rows and columns, in order along the contour (the last
        vertex joins the first).

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
        """The pixels inside the contour and on it, as a 0/1 mask.

        Inside: the pixel's centre is inside the contour (even-odd rule); on
        it: lines drawn between the rounded vertices. A scan-line fill whose
        cost grows with the contour's length and area, not with (vertices x
        bounding-box pixels): DDSM outlines have thousands of vertices on
        4000 x 3000 images.

        Parameters
        ----------
        shape : tuple of int
            ``(height, width)`` of the image; the contour is clipped to it.

        Returns
        -------
        ndarray of uint8
            Of shape ``shape``; all zero for a contour without vertices.
        """
        mask = np.zeros(shape, dtype=np.uint8)
        rows = np.asarray(self.rows, dtype=float)
        cols = np.asarray(self.cols, dtype=float)
        if rows.size == 0:
            return mask
        _fill_inside(mask, rows, cols)
        _draw_outline(mask, np.round(rows).astype(np.int64), np.round(cols).astype(np.int64))
        return mask


def _fill_inside(mask, rows, cols):
    """Set the pixels of ``mask`` whose centre lies inside the closed polygon
    (even-odd rule; each edge covers the rows ``[min, max)``, so that a vertex
    is crossed once)."""
    height, width = mask.shape
    r0, c0 = rows, cols
    r1, c1 = np.roll(rows, -1), np.roll(cols, -1)
    moving = r0 != r1
    r0, c0, r1, c1 = r0[moving], c0[moving], r1[moving], c1[moving]
    first = np.maximum(np.ceil(np.minimum(r0, r1)), 0).astype(np.int64)
    stop = np.minimum(np.ceil(np.maximum(r0, r1)), height).astype(np.int64)
    counts = np.maximum(stop - first, 0)
    total = int(counts.sum())
    if total == 0:
        return
    edge = np.repeat(np.arange(counts.size), counts)
    y = first[edge] + (np.arange(total) - (np.cumsum(counts) - counts)[edge])
    x = c0[edge] + (y - r0[edge]) * (c1[edge] - c0[edge]) / (r1[edge] - r0[edge])
    order = np.lexsort((x, y))
    y, x = y[order], x[order]
    # a closed contour crosses every row an even number of times: pair them up
    row, left, right = y[0::2], np.ceil(x[0::2]), np.floor(x[1::2])
    left = np.maximum(left, 0).astype(np.int64)
    right = np.minimum(right, width - 1).astype(np.int64)
    keep = right >= left
    row, left, right = row[keep], left[keep], right[keep]
    if row.size == 0:
        return
    top, col0 = row.min(), left.min()
    runs = np.zeros((row.max() - top + 1, right.max() - col0 + 2), dtype=np.int32)
    np.add.at(runs, (row - top, left - col0), 1)
    np.add.at(runs, (row - top, right - col0 + 1), -1)
    inside = np.cumsum(runs, axis=1)[:, :-1] > 0
    mask[top : top + inside.shape[0], col0 : col0 + inside.shape[1]] |= inside.astype(np.uint8)


def _draw_outline(mask, rows, cols):
    """Draw the closed contour through the (integer) vertices, clipped to ``mask``."""
    from skimage.draw import line

    if rows.size == 1:
        pieces = [(rows, cols)]
    else:
        pieces = [line(a, b, c, d) for a, b, c, d in zip(rows, cols, np.roll(rows, -1), np.roll(cols, -1))]
    rr = np.concatenate([p[0] for p in pieces])
    cc = np.concatenate([p[1] for p in pieces])
    inside = (rr >= 0) & (rr < mask.shape[0]) & (cc >= 0) & (cc < mask.shape[1])
    mask[rr[inside], cc[inside]] = 1


def rasterize_roi(roi, shape):
    """Return a uint8 0/1 mask of ``shape`` for a geometric ROI.

    Parameters
    ----------
    roi : CircleROI, BoxROI or PolygonROI
        Any object with a ``rasterize(shape)`` method.
    shape : tuple of int
        ``(height, width)`` of the image.

    Returns
    -------
    ndarray of uint8
        Of shape ``shape``, 1 inside the ROI.

    Raises
    ------
    TypeError
        ``roi`` is not a geometric ROI.

    Examples
    --------
    >>> rasterize_roi(BoxROI(0, 0, 1, 1), (3, 3)).tolist()
    [[1, 1, 0], [1, 1, 0], [0, 0, 0]]
    """
    if not hasattr(roi, "rasterize"):
        raise TypeError(f"not a geometric ROI: {type(roi).__name__}")
    return roi.rasterize(tuple(int(s) for s in shape))
