"""A Siamese model = backbone + optional neck + head, assembled from a config dict.

The config is data (see :mod:`siamtrack.models.presets`)::

    {"backbone": {"type": "mobilenetv3_small"},
     "neck": {"type": "adjust_layer", "in_channels": 64, "out_channels": 64},
     "apply_neck": False,
     "head": {"type": "nanotrack_ban_v2"}, "head_key": "ban_head"}

Attribute names (``backbone``, ``neck``, ``head_key``) are those of the
reference ``ModelBuilder`` so that official checkpoints load with strict key
matching. ``apply_neck: False`` reproduces NanoTrack, whose checkpoint holds
neck weights that its ``ModelBuilder.template/track`` never use.
``flat_keys: True`` is for checkpoints saved from one flat module (DaSiamRPN:
``featureExtract.*``, ``conv_r1.*``, ...): the state dict then holds the
blocks' own keys without the ``backbone.`` / ``neck.`` / head prefixes, the
blocks themselves carrying the reference's attribute names.
"""

from __future__ import annotations

import torch
from torch import nn

from siamtrack.models.fuse import fold_batchnorm, pointwise_as_linear
from siamtrack.models.registry import BACKBONES, HEADS, NECKS

# Registering the blocks is a side effect of importing their modules.
from siamtrack.models.backbones import alexnet, dasiamrpn_alexnet, mobilenetv2, mobilenetv3, resnet_atrous  # noqa: F401
from siamtrack.models.heads import dasiamrpn, nanotrack_ban, rpn  # noqa: F401
from siamtrack.models.necks import adjust  # noqa: F401


def _strip_block_prefixes(module, state_dict, prefix, local_metadata) -> None:
    """``state_dict`` post-hook of a flat-keyed model: ``<block>.<key>`` -> ``<key>`` (order kept)."""
    for name in module._modules:
        head = f"{prefix}{name}."
        for key in [k for k in state_dict if k.startswith(head)]:
            state_dict[prefix + key[len(head):]] = state_dict.pop(key)


def _add_block_prefixes(module, state_dict, prefix, local_metadata, strict, missing, unexpected, errors) -> None:
    """``load_state_dict`` pre-hook of a flat-keyed model: ``<key>`` -> ``<block>.<key>``; unknown keys are
    left as they are (strict loading reports them)."""
    owner = {key: name for name, block in module._modules.items() for key in block.state_dict()}
    for key in [k for k in state_dict if k.startswith(prefix) and k[len(prefix):] in owner]:
        state_dict[f"{prefix}{owner[key[len(prefix):]]}.{key[len(prefix):]}"] = state_dict.pop(key)


class SiameseModel(nn.Module):
    """Backbone + neck + head with a template branch run once and a per-frame search branch.

    ``template(z)``: ``z`` ``(1, 3, Hz, Wz)`` float32 exemplar crop -> opaque
    template state (kept by the tracker). ``track(state, x)``: ``x``
    ``(1, 3, Hx, Wx)`` float32 search crop -> ``(cls, loc)`` as the head
    defines them. Call :meth:`prepare_inference` once after loading weights.
    With ``flat_keys`` the state dict (saving and loading) has no block
    prefixes; the blocks' keys must then be distinct.
    """

    def __init__(self, backbone: nn.Module, head: nn.Module, head_key: str = "head",
                 neck: nn.Module | None = None, apply_neck: bool = True, flat_keys: bool = False):
        super().__init__()
        self.backbone = backbone
        if neck is not None:
            self.neck = neck
        self.apply_neck = apply_neck and neck is not None
        self.head_key = head_key
        self.add_module(head_key, head)
        self.flat_keys = flat_keys
        if flat_keys:
            seen = {}
            for name, block in self._modules.items():
                for key in block.state_dict():
                    if key in seen:
                        raise ValueError(f"flat_keys: {key!r} is a key of both {seen[key]!r} and {name!r}")
                    seen[key] = name
            self.register_state_dict_post_hook(_strip_block_prefixes)
            self.register_load_state_dict_pre_hook(_add_block_prefixes)

    @property
    def head(self) -> nn.Module:
        try:
            return self._modules[self.head_key]
        except KeyError:  # before registration (nn.Module.add_module asks hasattr)
            raise AttributeError("head") from None

    def features(self, img: torch.Tensor) -> torch.Tensor:
        f = self.backbone(img)
        return self.neck(f) if self.apply_neck else f

    def template(self, z: torch.Tensor):
        return self.head.template(self.features(z))

    def track(self, state, x: torch.Tensor):
        return self.head.track(state, self.features(x))

    def forward(self, z: torch.Tensor, x: torch.Tensor):
        """Reference path (no template caching, any batch size): ``head(features(z), features(x))``."""
        return self.head(self.features(z), self.features(x))

    def prepare_inference(self, channels_last: bool = True) -> "SiameseModel":
        """Make the model an inference-only graph for the torch backend (in place; once, after loading weights).

        eval(); BatchNorm folded into the preceding convolutions; gradients
        off; with ``channels_last`` (the default) weights are stored
        channels-last and 1x1 convolutions become matrix products over the
        channels-last view (:class:`~siamtrack.models.fuse.PointwiseLinear`):
        the trackers' crops are HWC images, so their tensors are channels-last
        views with no copy, and depthwise convolutions run several times
        faster in that layout on CPU. Outputs equal the reference path up to
        float32 rounding (parity tests). The graph backends export the model
        before this (:mod:`siamtrack.backends.export`).
        """
        self.eval()
        fold_batchnorm(self)
        for p in self.parameters():
            p.requires_grad_(False)
        if channels_last:
            pointwise_as_linear(self)
            self.to(memory_format=torch.channels_last)
        return self


def build_model(cfg: dict) -> SiameseModel:
    """Build a :class:`SiameseModel` from a config dict (see module docstring). ``KeyError`` on unknown block names.

    ``"arch": "siammask"`` configs build a :class:`~siamtrack.models.siammask.SiamMaskModel`.
    """
    if cfg.get("arch") == "siammask":
        from siamtrack.models.siammask import build_siammask

        return build_siammask(cfg)
    neck = NECKS.build(cfg["neck"]) if cfg.get("neck") else None
    return SiameseModel(
        backbone=BACKBONES.build(cfg["backbone"]),
        head=HEADS.build(cfg["head"]),
        head_key=cfg.get("head_key", "head"),
        neck=neck,
        apply_neck=cfg.get("apply_neck", True),
        flat_keys=cfg.get("flat_keys", False),
    )
