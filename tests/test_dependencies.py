"""The installed dependencies are the ones pyproject.toml promises to work with."""

import re
from importlib.metadata import version


def _minor(dist):
    major, minor = re.match(r"(\d+)\.(\d+)", version(dist)).groups()
    return int(major), int(minor)


def test_torch_and_torchvision_are_a_matching_pair():
    # torchvision 0.N is built against torch 2.(N - 15); its metadata only asks for
    # `torch>=2.x`, so pip can leave a mismatched pair, which breaks `import transformers`.
    torch_major, torch_minor = _minor("torch")
    tv_major, tv_minor = _minor("torchvision")
    assert (torch_major, tv_major) == (2, 0), (version("torch"), version("torchvision"))
    assert tv_minor == torch_minor + 15, (
        f"torch {version('torch')} needs torchvision 0.{torch_minor + 15}.x, found "
        f"{version('torchvision')}: install the two together (see pyproject.toml)"
    )
    import torch
    import torchvision.ops

    # the compiled operators load against this torch (a mismatched pair raises here)
    boxes = torch.tensor([[0.0, 0.0, 2.0, 2.0], [0.0, 0.0, 2.0, 2.1], [5.0, 5.0, 6.0, 6.0]])
    keep = torchvision.ops.nms(boxes, torch.tensor([0.9, 0.8, 0.7]), iou_threshold=0.5)
    assert keep.tolist() == [0, 2]
