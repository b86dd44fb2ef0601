"""Deep CNN baselines: ROI crops to tensors, and ResNet-50 / EfficientNet-B3 classifiers.

The baselines take the output of :class:`~sklearn_llmrad.preprocessing.CLAHEPreprocessor`
(one z-scored float32 ROI crop per lesion), turn it into a fixed-size image batch with
:class:`ROIToTensor`, and fine-tune a torchvision architecture with skorch::

    Pipeline([("clahe", CLAHEPreprocessor()),
              ("tensor", ROIToTensor(size=224)),
              ("cnn", ResNet50Classifier(weights="imagenet"))])

Pretrained weights are never downloaded at run time: ``weights="imagenet"`` reads
torchvision's checkpoint file from the local torch hub cache, and a missing file raises
:class:`~sklearn_llmrad.exceptions.ModelNotFoundError` saying where to put it.
"""

from __future__ import annotations

import inspect
import math
import os
from numbers import Integral, Real
from pathlib import Path
from types import MappingProxyType

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
import torchvision
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils._param_validation import Interval, Options, StrOptions
from skorch.dataset import Dataset, unpack_data
from skorch.utils import to_tensor
from torch import nn
from torch.utils.data import DataLoader

from .._columns import IMAGE, MASK, SOURCE
from .._output import FixedOutputMixin
from ..exceptions import ImageReadError, MaskError
from ..lesions import check_image, select_roi
from ._base import SkorchClassifierBase
from ._cnn_weights import ARCHITECTURES, load_backbone, resolve_weights_file
from ._cnn_weights import imagenet_checkpoint_names as imagenet_checkpoint_names  # re-exported
from ._device import resolve_device

__all__ = ["ROIToTensor", "ResNet50Classifier", "EfficientNetB3Classifier"]

# ImageNet channel statistics of torchvision's pretrained classifiers (the `mean`/`std`
# of their `ImageClassification` transforms).
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


# -- ROI crops -> (n, C, size, size) float32 -------------------------------------------------------
class ROIToTensor(FixedOutputMixin, TransformerMixin, BaseEstimator):
    """Resize ROI crops to a square network input of ``channels`` x ``size`` x ``size``.

    Stateless: ``fit`` learns nothing, ``transform`` works on its own.

    Each crop is first padded to a square (centred; the image is padded with the crop's
    minimum, i.e. dark background, the mask with 0) so that lesions keep their shape,
    then resized to ``size`` x ``size``. With ``keep_aspect=False`` the crop is
    stretched instead. Masks are resized with the same interpolation and clipped to
    [0, 1], so a down-sampled mask holds the fraction of each pixel inside the lesion.
    Intensities are not changed (the crops are already z-scored by the preprocessor).

    Parameters
    ----------
    size : int, default=224
        Side of the output images.
    channels : int, default=3
        Number of output channels; the grey crop is replicated (ImageNet CNNs take 3).
    use_mask : {False, "channel", "multiply"}, default=False
        ``False``: image only. ``"channel"``: the three channels are the image, the
        mask and image * mask (needs ``channels=3``). ``"multiply"``: image * mask
        (the background set to 0, the crop's mean), replicated.
    interpolation : {"bilinear", "bicubic", "nearest", "area"}, default="bilinear"
        Resampling method; bilinear and bicubic are anti-aliased when shrinking.
    keep_aspect : bool, default=True
        Pad to a square before resizing (True) or stretch (False).

    See Also
    --------
    ResNet50Classifier, EfficientNetB3Classifier : the networks fed by this transformer.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from sklearn_llmrad.models import ROIToTensor
    >>> crops = pd.DataFrame({"image": [np.zeros((40, 20), np.float32),
    ...                                 np.ones((30, 30), np.float32)],
    ...                       "mask": [np.ones((40, 20), np.uint8),
    ...                                np.ones((30, 30), np.uint8)]},
    ...                      index=["case_1", "case_2"])
    >>> X = ROIToTensor(size=32, use_mask="channel").fit_transform(crops)
    >>> X.shape, X.dtype
    ((2, 3, 32, 32), dtype('float32'))
    """

    _output_container = "a 4-D float32 array"  # FixedOutputMixin
    _parameter_constraints = {
        "size": [Interval(Integral, 1, None, closed="left")],
        "channels": [Interval(Integral, 1, None, closed="left")],
        "use_mask": [StrOptions({"channel", "multiply"}), "boolean"],
        "interpolation": [StrOptions({"bilinear", "bicubic", "nearest", "area"})],
        "keep_aspect": ["boolean"],
    }

    def __init__(self, *, size=224, channels=3, use_mask=False, interpolation="bilinear", keep_aspect=True):
        self.size = size
        self.channels = channels
        self.use_mask = use_mask
        self.interpolation = interpolation
        self.keep_aspect = keep_aspect

    def _check_params(self):
        self._validate_params()
        if self.use_mask is True:
            raise ValueError("use_mask must be False, 'channel' or 'multiply', got True")
        if self.use_mask == "channel" and self.channels != 3:
            raise ValueError(
                f"use_mask='channel' builds 3 channels (image, mask, image*mask); got channels={self.channels}"
            )

    def fit(self, X, y=None):
        """Check the parameters; nothing is learned.

        Parameters
        ----------
        X : DataFrame or ndarray
            Ignored (accepted for pipeline compatibility).
        y : None
            Ignored.

        Returns
        -------
        self : ROIToTensor
        """
        self._check_params()
        return self

    def transform(self, X):
        """Turn crops into a float32 array of shape (n, channels, size, size).

        Parameters
        ----------
        X : DataFrame or ndarray
            The preprocessor's output (``image`` column of 2-D float crops, ``mask``
            column of same-shape masks when ``use_mask`` is set), or an array of grey
            crops (n, H, W) or of images (n, C, H, W) with C equal to 1 or ``channels``.

        Returns
        -------
        ndarray of shape (n_samples, channels, size, size), dtype float32
        """
        self._check_params()
        if isinstance(X, pd.DataFrame):
            return self._transform_frame(X)
        return self._transform_array(X)

    def _transform_frame(self, X):
        if IMAGE not in X.columns:
            raise ValueError(
                f"ROIToTensor needs an {IMAGE!r} column of 2-D ROI crops (the output of "
                f"CLAHEPreprocessor); got columns {list(X.columns)}"
            )
        if self.use_mask and MASK not in X.columns:
            raise ValueError(f"use_mask={self.use_mask!r} needs a {MASK!r} column; got columns {list(X.columns)}")
        out = np.empty((len(X), self.channels, self.size, self.size), dtype=np.float32)
        sources = X[SOURCE] if SOURCE in X.columns else None
        for i, case in enumerate(X.index):
            file = None if sources is None else sources.iloc[i]
            image = _as_crop(X[IMAGE].iloc[i], case=case, file=file)
            mask = None
            if self.use_mask:
                mask = _as_mask(X[MASK].iloc[i], image.shape, case=case, file=file)
            out[i] = self._one(image, mask)
        return out

    def _transform_array(self, X):
        X = np.asarray(X)
        if X.ndim == 3:
            X = X[:, None]
        if X.ndim != 4:
            raise ValueError(
                "ROIToTensor takes a DataFrame of crops or an array of shape (n, H, W) or "
                f"(n, C, H, W); got an array of shape {X.shape}"
            )
        if self.use_mask:
            raise ValueError(f"use_mask={self.use_mask!r} needs a DataFrame with a {MASK!r} column")
        if X.shape[1] not in (1, self.channels):
            raise ValueError(f"expected 1 or {self.channels} channels, got {X.shape[1]}")
        if not np.issubdtype(X.dtype, np.number) or np.issubdtype(X.dtype, np.complexfloating):
            raise ValueError(f"expected a real numeric array, got dtype {X.dtype}")
        X = X.astype(np.float32, copy=False)
        bad = np.flatnonzero(~np.isfinite(X.reshape(len(X), -1)).all(axis=1))
        if bad.size:
            raise ImageReadError("image holds NaN or infinite values", case=int(bad[0]))
        out = np.empty((len(X), self.channels, self.size, self.size), dtype=np.float32)
        for i, x in enumerate(X):
            resized = np.stack([self._resize(c, pad_value=float(c.min())) for c in x])
            out[i] = np.broadcast_to(resized, out.shape[1:])
        return out

    def _one(self, image, mask):
        resized = self._resize(image, pad_value=float(image.min()))
        if mask is None:
            return np.broadcast_to(resized, (self.channels, self.size, self.size))
        mask = np.clip(self._resize(mask.astype(np.float32), pad_value=0.0), 0.0, 1.0)
        if self.use_mask == "multiply":
            return np.broadcast_to(resized * mask, (self.channels, self.size, self.size))
        return np.stack([resized, mask, resized * mask])

    def _resize(self, crop, *, pad_value):
        h, w = crop.shape
        if self.keep_aspect and h != w:
            side = max(h, w)
            top, left = (side - h) // 2, (side - w) // 2
            square = np.full((side, side), pad_value, dtype=np.float32)
            square[top : top + h, left : left + w] = crop
            crop = square
        if crop.shape == (self.size, self.size):
            return crop.astype(np.float32, copy=False)
        t = torch.from_numpy(np.ascontiguousarray(crop, dtype=np.float32))[None, None]
        antialias = self.interpolation in ("bilinear", "bicubic")
        t = F.interpolate(
            t,
            size=(self.size, self.size),
            mode=self.interpolation,
            antialias=antialias,
            **({"align_corners": False} if antialias else {}),
        )
        return t[0, 0].numpy()

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.requires_fit = False
        tags.input_tags.two_d_array = False
        tags.transformer_tags.preserves_dtype = ["float32"]
        return tags


def _as_crop(value, *, case, file):
    if isinstance(value, (str, os.PathLike)):
        raise ImageReadError(
            "image is a path, not a pixel array: run CLAHEPreprocessor before ROIToTensor", case=case, file=value
        )
    arr = check_image(np.asarray(value), case=case, file=file, what="ROI crop")
    return arr.astype(np.float32, copy=False)


def _as_mask(value, shape, *, case, file):
    if value is None or isinstance(value, (str, os.PathLike)):
        raise MaskError("mask is not a pixel array: run CLAHEPreprocessor before ROIToTensor", case=case, file=file)
    return select_roi(np.asarray(value), shape=shape, case=case, file=file)


# -- the network: a torchvision architecture (see _cnn_weights.py for its weights) -----------------
class TorchvisionCNN(nn.Module):
    """A torchvision classifier with a new ``n_classes`` head and a fixed input normalisation.

    The torchvision model is always built with ``weights=None`` (so torchvision never
    tries to download anything); pretrained weights are then read from ``weights_file``.

    Parameters
    ----------
    arch : {"resnet50", "efficientnet_b3"}
    n_classes : int, default=2
    weights_file : path, default=None
        A state dict with torchvision's key names (a 1000-class head is discarded).
    freeze_backbone : bool, default=False
        Train only the new head; the backbone (BatchNorm statistics included) stays fixed.
    normalize : {None, "imagenet"}, default=None
        ``"imagenet"`` maps the z-scored grey crop to ImageNet's input statistics: it is
        read as a grey image with ImageNet's average mean/std, ``g = 0.449 + 0.226 * z``,
        then normalised per channel, ``(g - mean_c) / std_c``. A fixed affine map, so
        it keeps the relative intensities (and intensity augmentation) of the input.
    """

    def __init__(self, arch, n_classes=2, weights_file=None, freeze_backbone=False, normalize=None):
        super().__init__()
        net = getattr(torchvision.models, arch)(weights=None, num_classes=n_classes)
        if weights_file is not None:
            load_backbone(net, arch, Path(weights_file))
        self.net = net
        self.arch = arch
        self.freeze_backbone = freeze_backbone
        self.normalize = normalize
        if freeze_backbone:
            for p in net.parameters():
                p.requires_grad_(False)
            for p in self._head_container().parameters():
                p.requires_grad_(True)
        mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
        std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
        # Non-persistent: the state dict keeps torchvision's key names only.
        self.register_buffer("mean", mean, persistent=False)
        self.register_buffer("std", std, persistent=False)

    def _head_container(self):
        # ResNet: `fc`; EfficientNet: `classifier` (Dropout + Linear), trained as a unit.
        return getattr(self.net, ARCHITECTURES[self.arch]["head"].split(".")[0])

    def forward(self, x):
        if x.shape[1] == 1:
            x = x.expand(-1, 3, -1, -1)
        if self.normalize == "imagenet":
            grey = self.mean.mean() + self.std.mean() * x
            x = (grey - self.mean) / self.std
        return self.net(x)

    def train(self, mode=True):
        super().train(mode)
        if self.freeze_backbone and mode:
            self.net.eval()
            self._head_container().train()
        return self


# -- training-time augmentation (batches on the training device) -----------------------------------
def augment_batch(x, *, max_rotation=10.0, intensity_jitter=0.1):
    """Random flips, small rotations and intensity jitter of an image batch ``x`` (n, C, H, W).

    Each sample independently: horizontal and vertical flip with probability 1/2,
    rotation by an angle uniform in ``[-max_rotation, max_rotation]`` degrees (bilinear,
    border pixels repeated), then ``x * (1 + a) + b`` with ``a, b`` uniform in
    ``[-intensity_jitter, intensity_jitter]`` (contrast and brightness; the crops are
    z-scored, so ``b`` is in standard deviations). The jitter applies to every channel,
    including a mask channel. Random numbers come from torch's CPU generator, so a
    seeded run gives the same augmentations on CPU and GPU.

    Examples
    --------
    >>> import torch
    >>> augment_batch(torch.zeros(4, 3, 8, 8)).shape
    torch.Size([4, 3, 8, 8])
    """
    n = x.shape[0]

    def uniform(size=(n,)):
        return (torch.rand(size) * 2 - 1).to(device=x.device, dtype=x.dtype)

    flips = (torch.rand(2, n) < 0.5).to(x.device).view(2, n, 1, 1, 1)
    x = torch.where(flips[0], x.flip(-1), x)
    x = torch.where(flips[1], x.flip(-2), x)
    if max_rotation > 0:
        angle = uniform() * math.radians(max_rotation)
        cos, sin, zero = angle.cos(), angle.sin(), torch.zeros_like(angle)
        theta = torch.stack([torch.stack([cos, -sin, zero], 1), torch.stack([sin, cos, zero], 1)], 1)
        grid = F.affine_grid(theta, list(x.shape), align_corners=False)
        x = F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)
    if intensity_jitter > 0:
        scale = 1 + intensity_jitter * uniform().view(n, 1, 1, 1)
        shift = intensity_jitter * uniform().view(n, 1, 1, 1)
        x = x * scale + shift
    return x


# -- skorch classifiers ----------------------------------------------------------------------------
_PARAMS_DOC = """
    Parameters
    ----------
    weights : None, "imagenet" or path, default=None
        Initial weights. ``None``: random initialisation. ``"imagenet"``: torchvision's
        ImageNet checkpoint, read from ``torch.hub.get_dir()/checkpoints`` (see
        :func:`imagenet_checkpoint_names`); a path: a state dict file (``.pth``/``.pt``
        read with ``torch.load(weights_only=True)``, or ``.safetensors``) with
        torchvision's key names. Never downloaded; a missing file raises
        :class:`~sklearn_llmrad.exceptions.ModelNotFoundError`. The 1000-class ImageNet
        head is replaced by a new layer with one output per class.
    freeze_backbone : bool, default=False
        Train only the new final layer (linear probing).
    augment : bool, default=True
        Random flips, rotations and intensity jitter of the training batches only
        (never of validation or prediction batches); see :func:`augment_batch`.
    max_rotation : float, default=10.0
        Largest random rotation in degrees (0 disables rotations).
    intensity_jitter : float, default=0.1
        Largest relative contrast change and brightness shift (0 disables it).
    normalize : {"auto", "imagenet"} or None, default="auto"
        Input normalisation inside the network (see :class:`TorchvisionCNN`); "auto" is
        "imagenet" when ``weights`` is given and None (inputs as they are) otherwise.
    criterion : torch criterion class, default=torch.nn.CrossEntropyLoss
        Receives logits; ``criterion__weight`` sets class weights.
    optimizer : torch optimizer class, default=torch.optim.AdamW
        Set its options with ``optimizer__<name>``, e.g. ``optimizer__weight_decay``.
    lr : float, default=1e-4
        Learning rate.
    max_epochs : int, default=20
    batch_size : int, default=16
        Training batches are shuffled; a last batch of a single sample is dropped
        (BatchNorm cannot train on it).
    early_stopping : bool, default=False
        Hold out ``validation_fraction`` of the training data (stratified) and stop
        after ``patience`` epochs without a lower validation loss, restoring the best
        epoch's weights.
    validation_fraction : float, default=0.2
        Used only with ``early_stopping=True``.
    patience : int, default=5
    callbacks : list of (name, callback) or None, default=None
        Extra skorch callbacks.
    classes : array-like or None, default=None
        Class labels; inferred from ``y`` when None.
    iterator_train, iterator_valid : DataLoader class, default=DataLoader
    dataset : skorch Dataset class, default=skorch.dataset.Dataset
    predict_nonlinearity : "auto", callable or None, default="auto"
        "auto" gives softmax probabilities.
    warm_start : bool, default=False
    device : "auto", str, torch.device or None, default="auto"
        "auto" uses CUDA when present, else the CPU. A model fitted on a GPU is
        unpickled onto the CPU where no GPU is present; ``set_params(device="cpu")``
        moves a fitted model.
    random_state : int, RandomState instance or None, default=None
        Seeds the weight initialisation, batch shuffling, augmentation, dropout and the
        validation split in ``fit`` (``partial_fit`` uses torch's global generator). The
        same seed gives the same probabilities on the CPU (cuDNN kernels may differ
        slightly on a GPU). torch's global random state is left as it was.
    mixed_precision : bool, default=True
        On CUDA, train under automatic mixed precision (float16 autocast with
        gradient scaling); ignored on the CPU. Prediction runs in float32.
    verbose : int, default=0
        1 prints skorch's per-epoch table.
    progress : bool, default=True
        An epoch bar (:func:`tqdm.auto.tqdm`: a terminal or a notebook) with the
        training and validation losses, gone when training ends; none when
        ``verbose`` prints skorch's table. The package's own repeated fits (the
        inner-CV choice's splits) run without it.
    compile, use_caching, torch_load_kwargs
        As in :class:`skorch.NeuralNet`.
    **kwargs
        skorch's prefixed parameters (``optimizer__*``, ``criterion__*``,
        ``iterator_train__*``, ``callbacks__*``...).

    Attributes
    ----------
    module_ : TorchvisionCNN
        The fitted network.
    classes_ : ndarray
        Class labels, in the order of the ``predict_proba`` columns.
    history_ : skorch.History
        Per-epoch losses.
"""


class _TorchvisionClassifier(SkorchClassifierBase):
    """skorch classifier around a torchvision architecture (set ``_arch`` in subclasses)."""

    _arch = None
    # two seeds (weights/augmentation and the validation split), as before the shared base
    _separate_split_seed = True

    # skorch's __init__ stores these three as instance attributes; class-level defaults
    # let __init__ drop them again so that it sets parameters only (sklearn convention).
    history_ = None
    initialized_ = False
    virtual_params_ = MappingProxyType({})

    _parameter_constraints = {
        "weights": [None, StrOptions({"imagenet"}), str, os.PathLike],
        "freeze_backbone": ["boolean"],
        "augment": ["boolean"],
        "max_rotation": [Interval(Real, 0, 180, closed="both")],
        "intensity_jitter": [Interval(Real, 0, None, closed="left")],
        "normalize": [StrOptions({"auto", "imagenet"}), None],
        "lr": [Interval(Real, 0, None, closed="neither")],
        "max_epochs": [Interval(Integral, 0, None, closed="left")],
        "batch_size": [Interval(Integral, 1, None, closed="left"), Options(Integral, {-1})],
        "early_stopping": ["boolean"],
        "validation_fraction": [Interval(Real, 0, 1, closed="neither")],
        "patience": [Interval(Integral, 1, None, closed="left")],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
        "device": [str, torch.device, None],
        "mixed_precision": ["boolean"],
        "progress": ["boolean"],
    }

    def __init__(
        self,
        *,
        weights=None,
        freeze_backbone=False,
        augment=True,
        max_rotation=10.0,
        intensity_jitter=0.1,
        normalize="auto",
        criterion=torch.nn.CrossEntropyLoss,
        optimizer=torch.optim.AdamW,
        lr=1e-4,
        max_epochs=20,
        batch_size=16,
        early_stopping=False,
        validation_fraction=0.2,
        patience=5,
        callbacks=None,
        classes=None,
        iterator_train=DataLoader,
        iterator_valid=DataLoader,
        dataset=Dataset,
        predict_nonlinearity="auto",
        warm_start=False,
        device="auto",
        random_state=None,
        mixed_precision=True,
        verbose=0,
        progress=True,
        compile=False,
        use_caching="auto",
        torch_load_kwargs=None,
        **kwargs,
    ):
        self._init_params(locals(), module=TorchvisionCNN, train_split=None)  # train_split: see get_split_datasets
        for name in ("history_", "initialized_", "virtual_params_"):
            if not vars(self)[name]:
                del self.__dict__[name]

    # sklearn's repr (skorch's shows the module instead of the parameters).
    __repr__ = BaseEstimator.__repr__

    # -- parameters: the signature plus skorch's prefixed ones ---------------------------
    def _get_param_names(self):
        # skorch lists every attribute (module, train_split, _params_to_validate...);
        # only the constructor's parameters and prefixed `x__y` options are parameters here.
        signature = inspect.signature(type(self).__init__)
        names = [p.name for p in signature.parameters.values() if p.name != "self" and p.kind != p.VAR_KEYWORD]
        names += [k for k in self.__dict__ if "__" in k and not k.endswith("_")]
        return sorted(names)

    # -- network ---------------------------------------------------------------------
    def _normalization(self):
        if self.normalize == "auto":
            return None if self.weights is None else "imagenet"
        return self.normalize

    def initialize_module(self):
        """Build the network (and read its initial weights); nothing is downloaded."""
        weights_file = None
        if self.weights is not None:
            weights_file = resolve_weights_file(self._arch, self.weights)
        classes = getattr(self, "classes_inferred_", None)
        if self.classes is not None and len(self.classes):
            classes = self.classes
        n_classes = 2 if classes is None else max(2, len(classes))
        self.module_ = TorchvisionCNN(
            self._arch,
            n_classes=n_classes,
            weights_file=weights_file,
            freeze_backbone=self.freeze_backbone,
            normalize=self._normalization(),
            **self.get_params_for("module"),
        )
        return self

    def get_all_learnable_params(self):
        # Frozen backbone parameters are not handed to the optimizer.
        for name, param in super().get_all_learnable_params():
            if param.requires_grad:
                yield name, param

    # -- data ------------------------------------------------------------------------
    def get_dataset(self, X, y=None):
        """Check ``X`` is a (n, C, H, W) image batch, then wrap it in a skorch Dataset."""
        return super().get_dataset(self._check_images(X), y)

    def _check_images(self, X):
        if isinstance(X, torch.utils.data.Dataset):
            return X
        if isinstance(X, pd.DataFrame):
            raise ValueError(
                f"{type(self).__name__} takes an image array of shape (n, C, H, W); got a "
                "DataFrame: put ROIToTensor between CLAHEPreprocessor and the classifier"
            )
        X = np.asarray(X, dtype=np.float32)
        if X.ndim != 4 or X.shape[1] not in (1, 3):
            raise ValueError(
                f"{type(self).__name__} takes an image array of shape (n, 1 or 3, H, W) "
                f"(see ROIToTensor); got shape {X.shape}"
            )
        bad = np.flatnonzero(~np.isfinite(X.reshape(len(X), -1)).all(axis=1))
        if bad.size:
            raise ValueError(f"image {int(bad[0])} of X holds NaN or infinite values")
        return X

    def get_iterator(self, dataset, training=False):
        kwargs = self.get_params_for("iterator_train" if training else "iterator_valid")
        kwargs.setdefault("batch_size", self.batch_size)
        if kwargs["batch_size"] == -1:
            kwargs["batch_size"] = len(dataset)
        if training:
            kwargs.setdefault("shuffle", True)
            if len(dataset) % kwargs["batch_size"] == 1 and len(dataset) > 1:
                kwargs.setdefault("drop_last", True)
        else:
            # A DataLoader draws a base seed from its generator even without shuffling;
            # a private one keeps prediction from advancing torch's global generator.
            kwargs.setdefault("generator", torch.Generator())
        iterator = self.iterator_train if training else self.iterator_valid
        return iterator(dataset, **kwargs)

    def train_step_single(self, batch, **fit_params):
        Xi, yi = unpack_data(batch)
        if self.augment:
            Xi = augment_batch(
                to_tensor(Xi, device=self.device),
                max_rotation=self.max_rotation,
                intensity_jitter=self.intensity_jitter,
            )
        return super().train_step_single((Xi, yi), **fit_params)

    # -- shared base hooks ------------------------------------------------------------
    def validate_X(self, X, *, reset):
        """Check that ``X`` is a (n, 1 or 3, H, W) image batch; nothing is recorded."""
        return self._check_images(X)

    def get_build_state(self):
        """``{"normalize": None or "imagenet"}``: resolved: "auto" depends on ``weights``, a path no file holds."""
        return {"normalize": self._normalization()}

    def initialize_for_restore(self, build_state=None, after=None):
        """Build the network with the saved normalisation (older files without one: the parameters decide)."""
        if not isinstance(build_state, dict) or "normalize" not in build_state:
            return super().initialize_for_restore(build_state, after)
        normalize = build_state["normalize"]
        if normalize not in (None, "imagenet"):
            raise ValueError(f"unknown saved input normalisation {normalize!r:.40}")
        saved = self.normalize
        self.normalize = normalize
        try:
            return super().initialize_for_restore(build_state, after)
        finally:
            if "normalize" not in (after or {}):
                self.normalize = saved

    @classmethod
    def params_for_restore(cls, params):
        """Build without the pretrained weights file (the saved weights replace them), its normalisation pinned.

        Both parameters are set back as fitted once the net is loaded.
        """
        params = dict(params)
        if params.get("weights") is None:
            return params, {}
        after = {"weights": params["weights"], "normalize": params.get("normalize", "auto")}
        params["normalize"] = cls(**params)._normalization()
        params["weights"] = None
        return params, after

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = False
        tags.non_deterministic = resolve_device(self.__dict__.get("device", "auto")) != "cpu"
        return tags


class ResNet50Classifier(_TorchvisionClassifier):
    __doc__ = (
        """ResNet-50 (torchvision) fine-tuned as a lesion classifier, a skorch ``NeuralNetClassifier``.

    Takes the (n, 3, H, W) float32 batches of :class:`ROIToTensor` and predicts class
    probabilities. The final layer is replaced by a ``2048 -> n_classes`` linear layer.
"""
        + _PARAMS_DOC
        + """
    See Also
    --------
    EfficientNetB3Classifier : the same with EfficientNet-B3.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_llmrad.models import ResNet50Classifier
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(8, 3, 32, 32)).astype("float32")
    >>> y = np.array([0, 1] * 4)
    >>> clf = ResNet50Classifier(max_epochs=1, batch_size=8, random_state=0).fit(X, y)
    >>> clf.predict_proba(X).shape
    (8, 2)
    """
    )
    _arch = "resnet50"


class EfficientNetB3Classifier(_TorchvisionClassifier):
    __doc__ = (
        """EfficientNet-B3 (torchvision) fine-tuned as a lesion classifier, a skorch ``NeuralNetClassifier``.

    Takes the (n, 3, H, W) float32 batches of :class:`ROIToTensor` (torchvision's
    ImageNet checkpoint was trained at 300 x 300) and predicts class probabilities.
    The final layer is replaced by a ``1536 -> n_classes`` linear layer (after
    torchvision's dropout).
"""
        + _PARAMS_DOC
        + """
    See Also
    --------
    ResNet50Classifier : the same with ResNet-50.

    Examples
    --------
    >>> from sklearn_llmrad.models import EfficientNetB3Classifier
    >>> clf = EfficientNetB3Classifier(weights="imagenet", freeze_backbone=True, lr=1e-3)
    >>> clf.get_params()["device"], clf.get_params()["freeze_backbone"]
    ('auto', True)
    """
    )
    _arch = "efficientnet_b3"
