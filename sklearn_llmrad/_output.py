"""``set_output`` for stages whose output container is fixed.

scikit-learn's ``Pipeline.set_output(transform="pandas")`` configures every step
that has a ``transform`` and refuses the whole pipeline when one step lacks
``set_output``. Three stages return a container of their own that is not a
numeric table: :class:`~sklearn_llmrad.CLAHEPreprocessor` (a DataFrame of image
crops, already pandas), :class:`~sklearn_llmrad.BioBERTEncoder`
(:class:`~sklearn_llmrad.SemanticFeatures`, which carries the embeddings the
fusion network needs) and :class:`~sklearn_llmrad.models.ROIToTensor` (a 4-D
image tensor). They accept ``"default"`` and ``"pandas"`` and keep their
container, so that a pandas pipeline works through every stage; any other
container (e.g. ``"polars"``) is refused with a clear error.
"""

__all__ = ["FixedOutputMixin"]


class FixedOutputMixin:
    """Accept ``set_output(transform="pandas")`` without changing the output container.

    Put it first among the bases so that it takes precedence over
    :class:`~sklearn.base.TransformerMixin`'s ``set_output``.
    """

    #: what ``transform`` returns, for the error message
    _output_container = "its own container"

    def set_output(self, *, transform=None):
        """Accept ``"default"`` or ``"pandas"``; the output container stays the same.

        Parameters
        ----------
        transform : {"default", "pandas"} or None
            Output container requested by ``Pipeline.set_output``.

        Returns
        -------
        self : estimator
            This estimator, unchanged.
        """
        if transform not in (None, "default", "pandas"):
            raise ValueError(
                f"{type(self).__name__} outputs {self._output_container} only; "
                f"set_output(transform={transform!r}) is not supported (use 'default' or 'pandas')."
            )
        return self
