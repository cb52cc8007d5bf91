"""Model configs of the pysot SiamRPN / SiamRPN++ experiments (STVIR/pysot @d04028f).

``PYSOT_MODELS`` maps an experiment name to the config dict that
:func:`siamtrack.models.siamese.build_model` takes; each mirrors the
experiment's ``config.yaml`` (``BACKBONE``, ``ADJUST``, ``RPN``; recorded in
``../shared/fixtures/<name>/manifest.json``), and the module attribute names
(``backbone``, ``neck``, ``rpn_head``) reproduce pysot's ``ModelBuilder``
so its checkpoints load strictly. The AlexNet experiments have no neck
(``ADJUST.ADJUST: False``); ``siamrpn_alex_upchannel`` is the SiamRPN
up-channel head on the same backbone (not an official pysot experiment, see
its manifest). Use :func:`pysot_model_config` to get a private copy.
"""

from __future__ import annotations

import copy

__all__ = ["PYSOT_MODELS", "pysot_model_config"]

PYSOT_MODELS = {
    "siamrpn_alex_dwxcorr": {
        "backbone": {"type": "alexnetlegacy", "width_mult": 1.0},
        "head": {"type": "depthwise_rpn", "anchor_num": 5, "in_channels": 256, "out_channels": 256},
        "head_key": "rpn_head",
    },
    "siamrpn_alex_upchannel": {
        "backbone": {"type": "alexnetlegacy", "width_mult": 1.0},
        "head": {"type": "upchannel_rpn", "anchor_num": 5, "feature_in": 256},
        "head_key": "rpn_head",
    },
    "siamrpn_mobilev2_l234_dwxcorr": {
        "backbone": {"type": "mobilenetv2", "width_mult": 1.4, "used_layers": [3, 5, 7]},
        "neck": {"type": "adjust_all_layer", "in_channels": [44, 134, 448], "out_channels": [256, 256, 256]},
        "head": {"type": "multi_rpn", "anchor_num": 5, "in_channels": [256, 256, 256], "weighted": False},
        "head_key": "rpn_head",
    },
    "siamrpn_r50_l234_dwxcorr": {
        "backbone": {"type": "resnet50", "used_layers": [2, 3, 4]},
        "neck": {"type": "adjust_all_layer", "in_channels": [512, 1024, 2048], "out_channels": [256, 256, 256]},
        "head": {"type": "multi_rpn", "anchor_num": 5, "in_channels": [256, 256, 256], "weighted": True},
        "head_key": "rpn_head",
    },
    # experiments/siamrpn_r50_l234_dwxcorr_otb: same layout, unweighted level average.
    "siamrpn_r50_l234_dwxcorr_otb": {
        "backbone": {"type": "resnet50", "used_layers": [2, 3, 4]},
        "neck": {"type": "adjust_all_layer", "in_channels": [512, 1024, 2048], "out_channels": [256, 256, 256]},
        "head": {"type": "multi_rpn", "anchor_num": 5, "in_channels": [256, 256, 256], "weighted": False},
        "head_key": "rpn_head",
    },
    # experiments/siamrpn_r50_l234_dwxcorr_lt: narrower neck (128/256/512), weighted average.
    "siamrpn_r50_l234_dwxcorr_lt": {
        "backbone": {"type": "resnet50", "used_layers": [2, 3, 4]},
        "neck": {"type": "adjust_all_layer", "in_channels": [512, 1024, 2048], "out_channels": [128, 256, 512]},
        "head": {"type": "multi_rpn", "anchor_num": 5, "in_channels": [128, 256, 512], "weighted": True},
        "head_key": "rpn_head",
    },
    # experiments/siammask_r50_l3: SiamMask (stem + layer1..3 kept for the refinement, layer3 adjusted,
    # DepthwiseRPN, MaskCorr 63x63, Refine); built by siamtrack.models.siammask (the foolwood/SiamMask
    # checkpoints are the same network under key_layout "foolwood").
    "siammask_r50_l3": {
        "arch": "siammask",
        "backbone": {"type": "resnet50", "used_layers": [0, 1, 2, 3]},
        "neck": {"type": "adjust_all_layer", "in_channels": [1024], "out_channels": [256]},
        "rpn": {"type": "depthwise_rpn", "anchor_num": 5, "in_channels": 256, "out_channels": 256},
        "mask": {"type": "mask_corr", "in_channels": 256, "hidden": 256, "out_channels": 3969},
        "refine": {"type": "refine"},
        "key_layout": "pysot",
    },
}


def pysot_model_config(name: str) -> dict:
    """A deep copy of ``PYSOT_MODELS[name]``; ``KeyError`` listing the known names."""
    try:
        return copy.deepcopy(PYSOT_MODELS[name])
    except KeyError:
        raise KeyError(f"unknown pysot model {name!r}; known: {', '.join(sorted(PYSOT_MODELS))}") from None
