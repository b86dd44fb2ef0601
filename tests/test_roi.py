"""Geometric ROIs: the scan-line PolygonROI fill agrees with scikit-image's
point-in-polygon fill, pixel by pixel, on random (self-intersecting, partly
outside) polygons."""

import numpy as np
import pytest
from skimage.draw import polygon, polygon_perimeter

from sklearn_llmrad.roi import PolygonROI


def _reference(rows, cols, shape):
    mask = np.zeros(shape, np.uint8)
    rr, cc = polygon(rows, cols, shape=shape)
    mask[rr, cc] = 1
    rr, cc = polygon_perimeter(rows, cols, shape=shape)
    mask[rr, cc] = 1
    return mask


@pytest.mark.parametrize("integer", [True, False])
def test_polygon_fill_matches_scikit_image(integer):
    rng = np.random.default_rng(int(integer))
    shape = (35, 25)
    for _ in range(300):
        n = int(rng.integers(3, 12))
        if integer:
            rows, cols = rng.integers(-5, 40, n).astype(float), rng.integers(-5, 30, n).astype(float)
        else:
            rows, cols = rng.uniform(-5, 40, n), rng.uniform(-5, 30, n)
        got = PolygonROI(tuple(rows), tuple(cols)).rasterize(shape)
        np.testing.assert_array_equal(got, _reference(rows, cols, shape), err_msg=f"{rows} {cols}")


def test_degenerate_and_outside_polygons():
    assert PolygonROI(rows=(3,), cols=(4,)).rasterize((6, 6)).sum() == 1
    line = PolygonROI(rows=(1, 1), cols=(1, 4)).rasterize((6, 6))
    assert line[1, 1:5].all() and line.sum() == 4
    assert PolygonROI(rows=(), cols=()).rasterize((3, 3)).sum() == 0
    assert PolygonROI(rows=(50, 50, 60), cols=(50, 60, 60)).rasterize((10, 10)).sum() == 0
    # a polygon covering the whole image fills it
    assert PolygonROI(rows=(-5, -5, 20, 20), cols=(-5, 20, 20, -5)).rasterize((8, 9)).all()
