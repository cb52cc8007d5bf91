"""Model presets: data describing each named tracker (model config, tracker hyper-parameters, weights).

A preset is a plain dict, never a subclass:

* ``tracker``: name in the tracker registry (:mod:`siamtrack.tracker.registry`);
* ``model``: the :func:`~siamtrack.models.siamese.build_model` config;
* ``track``: the tracker's hyper-parameters, copied from the reference config
  named in ``reference`` (values also recorded in the fixture manifests
  ``../shared/fixtures/<name>/manifest.json``);
* ``weights``: the official checkpoint's file name and where it is published.

Aliases map short names to presets (``nanotrack`` = ``nanotrack-v2``).
"""

from __future__ import annotations

import copy

from siamtrack.errors import SiamtrackError

NANOTRACK_URL = "https://github.com/HonglinChu/SiamTrackers/tree/master/NanoTrack/models/pretrained"
PYSOT_URL = "https://github.com/STVIR/pysot/blob/master/MODEL_ZOO.md (each experiment's model.pth)"
DASIAMRPN_URL = "https://github.com/foolwood/DaSiamRPN (Google Drive links in its README)"


def _nanotrack(version: int, backbone: str, channels: int, head: str, score_size: int,
               penalty_k: float, window_influence: float, lr: float) -> dict:
    return {
        "tracker": "nanotrack",
        "reference": f"HonglinChu/SiamTrackers@248663f NanoTrack/models/config/configv{version}.yaml",
        "model": {
            "backbone": {"type": backbone},
            # Built so the checkpoint's neck.* keys load, never applied (as the reference ModelBuilder).
            "neck": {"type": "adjust_layer", "in_channels": channels, "out_channels": channels},
            "apply_neck": False,
            "head": {"type": head},
            "head_key": "ban_head",
        },
        "track": {
            "exemplar_size": 127,
            "instance_size": 255,
            "score_size": score_size,  # cfg.TRACK.OUTPUT_SIZE
            "stride": 16,  # cfg.POINT.STRIDE
            "context_amount": 0.5,
            "penalty_k": penalty_k,
            "window_influence": window_influence,
            "lr": lr,
            "lost_threshold": 0.3,
        },
        "weights": {"file": f"nanotrackv{version}.pth", "url": NANOTRACK_URL},
    }


def _pysot(experiment: str, penalty_k: float, window_influence: float, lr: float, instance_size: int,
           base_size: int, tracker: str = "siamrpn", **extra) -> dict:
    """A pysot SiamRPN / SiamRPN++ preset: model from ``PYSOT_MODELS``, TRACK values of the experiment's config.yaml."""
    from siamtrack.models.pysot_configs import pysot_model_config

    track = {
        "exemplar_size": 127,
        "instance_size": instance_size,
        "base_size": base_size,
        "context_amount": 0.5,
        "stride": 8,  # cfg.ANCHOR
        "ratios": [0.33, 0.5, 1, 2, 3],
        "scales": [8],
        "penalty_k": penalty_k,
        "window_influence": window_influence,
        "lr": lr,
        "lost_threshold": 0.3,
    }
    track.update(extra)
    return {
        "tracker": tracker,
        "reference": (f"STVIR/pysot@d04028f experiments/{experiment}/config.yaml" if experiment != "siamrpn_alex_upchannel"
                      else "pysot UPChannelRPN on alexnetlegacy (../shared/fixtures/siamrpn_alex_upchannel/config.yaml)"),
        "model": pysot_model_config(experiment),
        "track": track,
        "weights": {"file": f"{experiment}.pth", "url": PYSOT_URL},
    }


def _dasiamrpn(net: str, size: int, feature_out: int, weights: str, penalty_k: float, window_influence: float,
               lr: float, adaptive: bool) -> dict:
    """A DaSiamRPN preset: ``net.cfg`` of the ``code/net.py`` class over run_SiamRPN.py ``TrackerConfig``."""
    return {
        "tracker": "dasiamrpn",
        "reference": f"foolwood/DaSiamRPN@167d0db code/net.py {net} (cfg), code/run_SiamRPN.py TrackerConfig",
        "model": {
            "backbone": {"type": "dasiamrpn_alexnet", "size": size},
            "head": {"type": "dasiamrpn_rpn", "anchor_num": 5, "feature_in": 256 * size, "feature_out": feature_out},
            "flat_keys": True,  # the .model files are flat state dicts: featureExtract.*, conv_r1.*, ...
        },
        "track": {
            "exemplar_size": 127,
            "instance_size": 271,
            "context_amount": 0.5,
            "stride": 8,  # total_stride
            "ratios": [0.33, 0.5, 1, 2, 3],
            "scales": [8],
            "penalty_k": penalty_k,
            "window_influence": window_influence,
            "lr": lr,
            # adaptive: search crop 287 (not 271) when the init box covers < 0.4% of the frame
            "adaptive": adaptive,
            "adaptive_area_ratio": 0.004,
            "adaptive_instance_size": 287,
            "lost_threshold": 0.3,  # siamtrack's lost flag only (not in the reference)
        },
        "weights": {"file": weights, "url": DASIAMRPN_URL},
    }


PRESETS = {
    "nanotrack-v1": _nanotrack(1, "mobilenetv3_small", 64, "nanotrack_ban_v1", 16, 0.148, 0.462, 0.39),
    "nanotrack-v2": _nanotrack(2, "mobilenetv3_small", 64, "nanotrack_ban_v2", 16, 0.15, 0.49, 0.385),
    "nanotrack-v3": _nanotrack(3, "mobilenetv3_small_v3", 96, "nanotrack_ban_v3", 15, 0.138, 0.455, 0.348),
    "siamrpn-alex": _pysot("siamrpn_alex_dwxcorr", 0.16, 0.4, 0.3, 287, 0),
    # Up-channel RPN head (SiamRPN) on the pysot AlexNet: the fixture siamrpn_alex_upchannel (its config.yaml).
    "siamrpn-alex-upchannel": _pysot("siamrpn_alex_upchannel", 0.16, 0.4, 0.3, 287, 0),
    "siamrpn++-mobilev2": _pysot("siamrpn_mobilev2_l234_dwxcorr", 0.04, 0.4, 0.5, 255, 8),
    "siamrpn++-r50": _pysot("siamrpn_r50_l234_dwxcorr", 0.05, 0.42, 0.38, 255, 8),
    "siamrpn++-r50-otb": _pysot("siamrpn_r50_l234_dwxcorr_otb", 0.24, 0.5, 0.25, 255, 8),
    # pysot SiamRPNLTTracker; LOST_INSTANCE_SIZE is pysot's default (pysot/core/config.py).
    "siamrpn++-lt": _pysot("siamrpn_r50_l234_dwxcorr_lt", 0.05, 0.28, 0.22, 255, 8, tracker="siamrpn_lt",
                           lost_instance_size=831, confidence_low=0.8, confidence_high=0.998),
    # DaSiamRPN (Zhu et al., ECCV 2018): SiamRPNvot (VOT2018 entry), SiamRPNBIG (2x wider), SiamRPNotb.
    "siamrpn": _dasiamrpn("SiamRPNvot", 1, 256, "SiamRPNVOT.model", 0.04, 0.44, 0.45, False),
    "siamrpn-big": _dasiamrpn("SiamRPNBIG", 2, 512, "SiamRPNBIG.model", 0.055, 0.42, 0.295, True),
    "siamrpn-otb": _dasiamrpn("SiamRPNotb", 1, 256, "SiamRPNOTB.model", 0.22, 0.4, 0.3, False),
}

ALIASES = {"nanotrack": "nanotrack-v2", "siamrpn++": "siamrpn++-r50"}


def preset_names(include_aliases: bool = True) -> list:
    """Sorted preset names (and aliases)."""
    return sorted(list(PRESETS) + (list(ALIASES) if include_aliases else []))


def get_preset(name: str) -> dict:
    """A deep copy of preset ``name`` (alias resolved), with ``name`` filled in.

    Raises:
        SiamtrackError: unknown name (the message lists the known ones).
    """
    key = ALIASES.get(name, name)
    if key not in PRESETS:
        raise SiamtrackError(f"unknown model '{name}'; known: {', '.join(preset_names())}")
    preset = copy.deepcopy(PRESETS[key])
    preset["name"] = key
    return preset
