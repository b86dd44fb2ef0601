"""Names of the columns in the data contract (see docs/architecture.md)."""

IMAGE = "image"
MASK = "mask"
#: Set by :class:`~sklearn_llmrad.CLAHEPreprocessor`: the original image path
#: (or ``"<array>"``), so later stages can name the file in their errors.
SOURCE = "source"
#: Optional: the pixel size ``(row_mm, col_mm)`` of the ``image`` (missing:
#: read from the image file's header where it has one, else unknown). Set by
#: every dataset loader; :class:`~sklearn_llmrad.CLAHEPreprocessor` and
#: :class:`~sklearn_llmrad.RadiomicsExtractor` resample to one spacing with it.
SPACING = "spacing"
#: Optional clinical metadata; every stage passes these through untouched.
CLINICAL = ("age", "density", "history")
