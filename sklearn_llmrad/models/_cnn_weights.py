"""torchvision architectures of the CNN baselines and their pretrained weights.

Which architectures there are (:data:`ARCHITECTURES`), which ImageNet
checkpoint files torchvision publishes for each, where such a file is found
(the local torch hub cache: nothing is ever downloaded), and how a state dict
is read (``weights_only=True`` or safetensors) and checked against the network.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torchvision

from ..exceptions import ModelNotFoundError

__all__ = ["ARCHITECTURES", "imagenet_checkpoint_names", "load_backbone", "read_state_dict", "resolve_weights_file"]

# enum: torchvision's weights enum of the architecture.
# head: the attribute of the torchvision model holding the final Linear layer.
# legacy: checkpoint names published by earlier torchvision releases (same layout).
ARCHITECTURES = {  # name -> torchvision's builder of the same name, and:
    "resnet50": {"enum": "ResNet50_Weights", "head": "fc", "legacy": ()},
    "efficientnet_b3": {
        "enum": "EfficientNet_B3_Weights",
        "head": "classifier.1",
        "legacy": ("efficientnet_b3_rwightman-cf984f9c.pth",),
    },
}


def imagenet_checkpoint_names(arch):
    """File names of torchvision's ImageNet checkpoints for ``arch``, preferred first.

    Examples
    --------
    >>> "resnet50-0676ba61.pth" in imagenet_checkpoint_names("resnet50")
    True
    """
    spec = ARCHITECTURES[arch]
    enum = getattr(torchvision.models, spec["enum"])
    # The enum's DEFAULT is torchvision's best checkpoint; list it first.
    members = [enum.DEFAULT] + [w for w in enum if w is not enum.DEFAULT]
    names = [w.url.rsplit("/", 1)[-1] for w in members]
    return names + [n for n in spec["legacy"] if n not in names]


def resolve_weights_file(arch, weights):
    if weights == "imagenet":
        directory = Path(torch.hub.get_dir()) / "checkpoints"
        names = imagenet_checkpoint_names(arch)
        for name in names:
            if (directory / name).is_file():
                return directory / name
        enum = getattr(torchvision.models, ARCHITECTURES[arch]["enum"])
        raise ModelNotFoundError(
            f"ImageNet weights for {arch} not found: expected one of {names} in "
            f"{directory} (torch.hub.get_dir()/checkpoints; set TORCH_HOME to move it). "
            f"Weights are never downloaded at run time: copy the file there (e.g. from "
            f"{enum.DEFAULT.url}) or pass its path as weights=..."
        )
    path = Path(weights)
    if not path.is_file():
        raise ModelNotFoundError(f"weights file {str(path)!r} for {arch} does not exist")
    return path


def read_state_dict(path):
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            state = load_file(str(path), device="cpu")
        else:
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # corrupt file, pickle with code, wrong format
        raise ModelNotFoundError(f"cannot read weights file {str(path)!r}: {exc}") from exc
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise ModelNotFoundError(f"weights file {str(path)!r} does not hold a state dict")
    return state


def _strip_prefixes(state):
    # Accept checkpoints saved from this module (`net.`), from a skorch net's module_, or
    # from DataParallel (`module.`), besides torchvision's own key names.
    out = {}
    for key, value in state.items():
        for prefix in ("module.", "net."):
            if key.startswith(prefix):
                key = key[len(prefix) :]
        out[key] = value
    return out


def load_backbone(net, arch, path):
    head = ARCHITECTURES[arch]["head"]
    head_keys = {f"{head}.weight", f"{head}.bias"}
    state = _strip_prefixes(read_state_dict(path))
    own = net.state_dict()
    # The checkpoint's head (e.g. 1000 ImageNet classes) is loaded only if it fits ours.
    state = {
        k: v for k, v in state.items() if k not in head_keys or (k in own and tuple(v.shape) == tuple(own[k].shape))
    }
    missing = sorted(set(own) - set(state) - head_keys)
    unexpected = sorted(set(state) - set(own))
    if missing or unexpected:
        raise ModelNotFoundError(
            f"weights file {str(path)!r} does not match torchvision's {arch}: "
            f"missing keys {missing[:5]}{'...' if len(missing) > 5 else ''}, "
            f"unexpected keys {unexpected[:5]}{'...' if len(unexpected) > 5 else ''}"
        )
    try:
        net.load_state_dict(state, strict=False)
    except RuntimeError as exc:  # shape mismatch
        raise ModelNotFoundError(f"weights file {str(path)!r} does not match torchvision's {arch}: {exc}") from exc
