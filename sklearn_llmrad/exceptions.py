"""Exceptions raised by sklearn-llmrad.

Every error about one lesion names the case (the row index of the input
DataFrame) and, where there is one, the file, so that a researcher can find
the offending image in a table of thousands.
"""

from __future__ import annotations

__all__ = ["LesionError", "ImageReadError", "MaskError", "ExtractionError", "DatasetFormatError", "ModelNotFoundError"]


class LesionError(ValueError):
    """Something is wrong with one lesion (one row of ``X``).

    Parameters
    ----------
    message : str
        What is wrong.
    case : object, default=None
        The case identifier (the DataFrame index label of the row).
    file : str or os.PathLike, default=None
        The file the problem was found in, if any.

    Examples
    --------
    >>> err = LesionError("mask is empty", case="mdb005_1", file="mdb005.pgm")
    >>> str(err)
    "case 'mdb005_1' (file 'mdb005.pgm'): mask is empty"
    """

    def __init__(self, message, *, case=None, file=None):
        self.case = case
        self.file = None if file is None else str(file)
        self.reason = message
        super().__init__(self._format())

    def _format(self):
        where = []
        if self.case is not None:
            where.append(f"case {self.case!r}")
        if self.file is not None:
            where.append(f"(file {self.file!r})")
        prefix = " ".join(where)
        return f"{prefix}: {self.reason}" if prefix else self.reason

    def __reduce__(self):  # keep case/file when sent across processes (joblib, dask)
        return (_rebuild, (type(self), self.reason, self.case, self.file))


def _rebuild(cls, message, case, file):
    return cls(message, case=case, file=file)


class ImageReadError(LesionError):
    """An image file is missing, unreadable, corrupt or holds invalid pixels."""


class MaskError(LesionError):
    """A mask is missing, empty, too small, of the wrong shape or the wrong label."""


class ExtractionError(LesionError):
    """PyRadiomics failed on a lesion."""


class DatasetFormatError(ValueError):
    """A dataset's files do not follow the layout its loader expects.

    The message names the file and, where it applies, the line or row.
    """


class ModelNotFoundError(OSError):
    """A language model could not be found locally or downloaded."""
