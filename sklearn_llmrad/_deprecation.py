"""Renamed parameters: the old spelling keeps working for one release, with a FutureWarning."""

import warnings

__all__ = ["renamed_parameter"]


def renamed_parameter(old_value, new_value, *, old, new, default=None, stacklevel=3):
    """The value of a renamed parameter, taken from its old spelling when that was given.

    Parameters
    ----------
    old_value : object
        What the caller passed under the old name; None when nothing was passed.
    new_value : object
        What the caller passed under the new name.
    old, new : str
        The two names, for the messages.
    default : object, default=None
        The new parameter's default: passing both spellings is an error.
    stacklevel : int, default=3
        Of the warning (3: the caller of the function that takes the parameter).

    Returns
    -------
    object
        ``new_value``, or ``old_value`` with a :class:`FutureWarning` naming ``new``.

    Examples
    --------
    >>> import warnings
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     renamed_parameter("p", None, old="pretrained", new="prior")
    'p'
    >>> str(caught[0].message)
    'pretrained= is deprecated and will be removed in a future release; use prior= instead.'
    """
    if old_value is None:
        return new_value
    warnings.warn(
        f"{old}= is deprecated and will be removed in a future release; use {new}= instead.",
        FutureWarning,
        stacklevel=stacklevel,
    )
    if new_value is not default and new_value != default:
        raise TypeError(f"got both {old}= and {new}=; pass {new}= only")
    return old_value
