"""``device="auto"`` for skorch nets: CUDA when present, kept as "auto" in the parameters."""

import torch

__all__ = ["resolve_device", "AutoDeviceMixin"]


def resolve_device(device):
    """``"auto"`` -> ``"cuda"`` when a GPU is visible, else ``"cpu"``; anything else unchanged.

    Examples
    --------
    >>> resolve_device("cpu")
    'cpu'
    >>> resolve_device("auto") in ("cpu", "cuda")
    True
    """
    if isinstance(device, str) and device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return device


class AutoDeviceMixin:
    """Put before ``NeuralNet`` in the bases of a skorch net.

    skorch reads ``self.device`` everywhere (module placement, tensors,
    unpickling); it must see a real device, while ``get_params``, ``clone`` and
    pickles keep what the user asked for, so that a model fitted with "auto"
    on a GPU machine loads and predicts on a CPU-only one.
    """

    @property
    def device(self):
        return resolve_device(self.__dict__.get("device", "auto"))

    @device.setter
    def device(self, value):
        self.__dict__["device"] = value

    def get_params(self, deep=True, **kwargs):
        params = super().get_params(deep=deep, **kwargs)
        params["device"] = self.__dict__.get("device", "auto")
        return params

    def __setstate__(self, state):
        requested = state.get("device", "auto")
        # skorch maps the stored tensors onto the resolved device, and an
        # explicit "cuda" onto the CPU (with a warning) when no GPU is present;
        # "auto" then stays the parameter's value.
        super().__setstate__({**state, "device": resolve_device(requested)})
        if isinstance(requested, str) and requested == "auto":
            self.__dict__["device"] = "auto"
