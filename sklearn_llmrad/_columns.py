"""Names of the columns in the data contract (see docs/architecture.md)."""

IMAGE = "image"
MASK = "mask"
#: Set by :class:`~sklearn_llmrad.CLAHEPreprocessor`: the original image path
#: (or ``"<array>"``), so later stages can name the file in their errors.
SOURCE = "source"
#: Optional clinical metadata; every stage passes these through untouched.
CLINICAL = ("age", "density", "history")
