"""SiamMask model (Wang et al., CVPR 2019): ResNet-50 to layer3, adjust layer, depthwise RPN, mask branch, refinement.

One network, two checkpoint key layouts (``key_layout`` in the config):

* ``"pysot"`` - STVIR/pysot ``ModelBuilder`` of ``experiments/siammask_r50_l3``
  (``backbone.``, ``neck.``, ``rpn_head.``, ``mask_head.``, ``refine_head.``);
* ``"foolwood"`` - foolwood/SiamMask ``experiments/siammask_sharp/custom.py``
  ``Custom`` (``SiamMask_VOT.pth``, ``SiamMask_VOT_LD.pth``,
  ``SiamMask_DAVIS.pth``): ``features.features.`` (ResNet-50),
  ``features.downsample.`` (``ResDownS``), ``rpn_model.`` (``UP``: two
  ``DepthCorr``), ``mask_model.mask.`` (``DepthCorr(256, 256, 63**2)``),
  ``refine_model.``.

The two are the same computation block for block (same shapes, same state-dict
order; ``../shared/fixtures/siammask_r50_l3`` and ``siammask_sharp_*``
``keys``): foolwood's ``resnet.py`` is pysot's atrous ResNet-50 (unpadded 7x7
stem, unpadded stride-2 layer2 with a 3x3 shortcut, dilated layer3) and its
``ResDownS`` is pysot's ``AdjustLayer`` (1x1 conv + BN, template map cropped
15 -> 7). The foolwood layout is produced by renaming key prefixes in
``state_dict()`` and back in ``load_state_dict()``, so loading stays strict
on the official names.

Shapes for the tracker (``(1, 3, 127, 127)`` exemplar, ``(1, 3, 255, 255)``
search, raw BGR 0..255 float32): backbone levels stem ``(1, 64, 125, 125)``,
layer1 ``(1, 256, 63, 63)``, layer2 ``(1, 512, 31, 31)``, layer3
``(1, 1024, 31, 31)``; adjusted search features ``(1, 256, 31, 31)``,
template ``(1, 256, 7, 7)``; ``cls`` ``(1, 10, 25, 25)``, ``loc``
``(1, 20, 25, 25)``, correlation feature ``(1, 256, 25, 25)``, mask
``(1, 3969, 25, 25)``, refined mask ``(1, 16129)`` (raw logits).
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from siamtrack.models.pysot_configs import PYSOT_MODELS
from siamtrack.models.registry import BACKBONES, HEADS, NECKS
from siamtrack.models.siamese import SiameseModel

__all__ = ["KEY_LAYOUTS", "SIAMMASK_R50_L3", "SiamMaskModel", "build_siammask", "siammask_config"]

#: internal (pysot) prefix -> checkpoint prefix, per layout; longest checkpoint prefixes first for loading.
KEY_LAYOUTS = {
    "pysot": (),
    "foolwood": (
        ("backbone.", "features.features."),
        ("neck.", "features."),
        ("rpn_head.", "rpn_model."),
        ("mask_head.", "mask_model.mask."),
        ("refine_head.", "refine_model."),
    ),
}

#: pysot ``experiments/siammask_r50_l3/config.yaml`` (BACKBONE, ADJUST, RPN, MASK, REFINE), key layout "pysot".
SIAMMASK_R50_L3 = PYSOT_MODELS["siammask_r50_l3"]


def siammask_config(key_layout: str = "pysot") -> dict:
    """A private copy of :data:`SIAMMASK_R50_L3` with the given checkpoint key layout."""
    if key_layout not in KEY_LAYOUTS:
        raise KeyError(f"unknown SiamMask key layout {key_layout!r}; known: {', '.join(KEY_LAYOUTS)}")
    return dict(copy.deepcopy(SIAMMASK_R50_L3), key_layout=key_layout)


def _rename(state_dict, prefix: str, pairs) -> None:
    """Rename ``prefix + old`` -> ``prefix + new`` for each ``(old, new)`` prefix pair, keeping key order."""
    for key in list(state_dict):
        if not key.startswith(prefix):
            continue
        rest = key[len(prefix):]
        for old, new in pairs:
            if rest.startswith(old):
                state_dict[prefix + new + rest[len(old):]] = state_dict.pop(key)
                break
        else:  # keep the relative order of untouched keys too
            state_dict[key] = state_dict.pop(key)


class SiamMaskModel(SiameseModel):
    """SiamMask: :class:`~siamtrack.models.siamese.SiameseModel` (backbone, neck, ``rpn_head``) + ``mask_head``
    (:class:`~siamtrack.models.heads.mask.MaskCorr`) + ``refine_head`` (:class:`~siamtrack.models.heads.mask.Refine`).

    Tracking path (after :meth:`prepare_inference`): ``template(z)`` once,
    then per frame ``track_mask(state, x)`` -> ``(cls, loc, search)`` and
    ``refine(search, (row, col))`` -> ``(1, 16129)`` logits for the chosen
    score-map cell. The 3969-channel mask conv is not run when tracking (the
    refinement replaces it); ``forward(z, x)`` is the reference computation
    and returns it too. Source: pysot ``ModelBuilder.template / track /
    mask_refine``; foolwood ``Custom.template / track_mask / track_refine``.
    """

    def __init__(self, backbone: nn.Module, neck: nn.Module, rpn_head: nn.Module, mask_head: nn.Module,
                 refine_head: nn.Module, key_layout: str = "pysot"):
        super().__init__(backbone=backbone, head=rpn_head, head_key="rpn_head", neck=neck)
        self.mask_head = mask_head
        self.refine_head = refine_head
        if key_layout not in KEY_LAYOUTS:
            raise KeyError(f"unknown SiamMask key layout {key_layout!r}; known: {', '.join(KEY_LAYOUTS)}")
        self.key_layout = key_layout
        pairs = KEY_LAYOUTS[key_layout]
        if pairs:
            to_checkpoint = sorted(pairs, key=lambda p: -len(p[0]))
            to_internal = sorted(((new, old) for old, new in pairs), key=lambda p: -len(p[0]))
            self.register_state_dict_post_hook(lambda m, sd, prefix, meta: _rename(sd, prefix, to_checkpoint))
            self.register_load_state_dict_pre_hook(
                lambda m, sd, prefix, *rest: _rename(sd, prefix, to_internal))

    def _levels(self, img: torch.Tensor):
        """Backbone levels ``[stem, layer1, layer2]`` (kept for the refinement) and the adjusted layer3."""
        out = self.backbone(img)
        return out[:-1], self.neck(out[-1])

    def features(self, img: torch.Tensor) -> torch.Tensor:
        """Adjusted layer3 features: ``(B, 256, 7, 7)`` for a 127 exemplar, ``(B, 256, 31, 31)`` for a 255 search."""
        return self.neck(self.backbone(img)[-1])

    def template(self, z: torch.Tensor):
        """Template state: the RPN's and the mask branch's depthwise kernels (template branch run once)."""
        zf = self.features(z)
        return self.rpn_head.template(zf), self.mask_head.template(zf)

    def track_mask(self, state, x: torch.Tensor):
        """``(cls, loc, search)``; ``search`` = ``(levels, corr_feature)`` for :meth:`refine` / :meth:`mask`."""
        levels, xf = self._levels(x)
        cls, loc = self.rpn_head.track(state[0], xf)
        return cls, loc, (levels, self.mask_head.correlate(state[1], xf))

    def track(self, state, x: torch.Tensor):
        """``(cls, loc)`` only (the box branch, as the SiamRPN trackers call it)."""
        cls, loc, _ = self.track_mask(state, x)
        return cls, loc

    def refine(self, search, pos) -> torch.Tensor:
        """Refined mask logits ``(B, 127*127)`` at score-map cell ``pos = (row, col)``."""
        levels, corr = search
        return self.refine_head(levels, corr, pos)

    def mask(self, search) -> torch.Tensor:
        """Raw 63x63 masks of every cell, ``(B, 3969, S, S)`` (the un-refined mask branch)."""
        return self.mask_head.head(search[1])

    def forward(self, z: torch.Tensor, x: torch.Tensor):
        """Reference path (no template caching): ``(cls, loc, mask, search)`` as pysot ``ModelBuilder.track``."""
        zf = self.features(z)
        levels, xf = self._levels(x)
        cls, loc = self.rpn_head(zf, xf)
        mask, corr = self.mask_head(zf, xf)
        return cls, loc, mask, (levels, corr)


def build_siammask(cfg: dict) -> SiamMaskModel:
    """Build a :class:`SiamMaskModel` from a config like :data:`SIAMMASK_R50_L3` (``KeyError`` on unknown names)."""
    return SiamMaskModel(
        backbone=BACKBONES.build(cfg["backbone"]),
        neck=NECKS.build(cfg["neck"]),
        rpn_head=HEADS.build(cfg["rpn"]),
        mask_head=HEADS.build(cfg["mask"]),
        refine_head=HEADS.build(cfg["refine"]),
        key_layout=cfg.get("key_layout", "pysot"),
    )
