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
SIAMMASK_URL = "http://www.robots.ox.ac.uk/~qwang/ (foolwood/SiamMask README, Testing Models)"


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
        # --precision bf16 on OpenVINO: search-graph convolutions up to this output stride stay in f32
        # (siamtrack.backends.precision: plain bf16 misses 3e-2 of fp32 on these networks).
        "bf16_f32_stem_stride": 8,
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


def _siammask(reference: str, tracker: str, key_layout: str, weights: str, url: str, penalty_k: float,
              window_influence: float, lr: float, mask_threshold: float, mask_border: float) -> dict:
    """A SiamMask preset: pysot ``siammask_r50_l3`` network (``key_layout`` "pysot" or "foolwood", the
    checkpoint names of :mod:`siamtrack.models.siammask`) and the TRACK / ``hp`` values of ``reference``.

    ``mask_threshold``: pysot ``TRACK.MASK_THERSHOLD`` / foolwood ``seg_thr``; ``mask_border``: the
    references' ``crop_back`` border value (pysot 0, foolwood -1); 127 = ``MASK_OUTPUT_SIZE`` / ``out_size``.
    """
    from siamtrack.models.pysot_configs import pysot_model_config

    return {
        "tracker": tracker,
        "reference": reference,
        "model": dict(pysot_model_config("siammask_r50_l3"), key_layout=key_layout),
        "mask": True,  # the tracker gives masks and polygons (siamtrack run --save-masks / --polygons)
        "track": {
            "exemplar_size": 127,
            "instance_size": 255,
            "base_size": 8,
            "context_amount": 0.5,
            "stride": 8,
            "ratios": [0.33, 0.5, 1, 2, 3],
            "scales": [8],
            "penalty_k": penalty_k,
            "window_influence": window_influence,
            "lr": lr,
            "mask_threshold": mask_threshold,
            "mask_output_size": 127,
            "mask_border": mask_border,
            "min_contour_area": 100,
            "lost_threshold": 0.3,  # siamtrack's lost flag only (not in the references)
        },
        "weights": {"file": weights, "url": url},
    }


_SHARP = "foolwood/SiamMask@a2b3ce3 experiments/siammask_sharp/"

SIAMFC_URL = "https://github.com/huanglianghua/siamfc-pytorch (Google Drive / Baidu links in its README)"
CFNET_URL = "https://github.com/bertinetto/cfnet (pretrained networks linked in its README)"


def _siamfc() -> dict:
    """SiamFC (Bertinetto et al., ECCV-W 2016) as huanglianghua/siamfc-pytorch ``TrackerSiamFC``: AlexNetV1 +
    ``SiamFC(out_scale)`` head; ``track`` = its ``parse_args`` inference values (also in
    ``../shared/fixtures/siamfc_alexnet/manifest.json`` ``config``)."""
    return {
        "tracker": "siamfc",
        "reference": "huanglianghua/siamfc-pytorch@3957205 siamfc/siamfc.py TrackerSiamFC (parse_args)",
        "model": {"backbone": {"type": "alexnet_v1"}, "head": {"type": "siamfc", "out_scale": 0.001}},
        "track": {
            "exemplar_sz": 127,
            "instance_sz": 255,
            "context": 0.5,
            "scale_num": 3,
            "scale_step": 1.0375,
            "scale_lr": 0.59,
            "scale_penalty": 0.9745,
            "window_influence": 0.176,
            "response_sz": 17,
            "response_up": 16,
            "total_stride": 8,
            "colour": "rgb",  # the reference feeds RGB crops (ops.read_image: BGR2RGB)
            "lost_threshold": 0.0,  # siamtrack's lost flag only: the penalised peak logit below 0
        },
        "weights": {"file": "siamfc_alexnet_e50.pth", "url": SIAMFC_URL},
    }


def _cfnet(convs: int, file: str, gray_file: str, scale_step: float, scale_penalty: float, scale_lr: float,
           window_influence: float, z_lr: float) -> dict:
    """CFNet-conv<convs> (Valmadre et al., CVPR 2017): the official MatConvNet networks (``loader`` reads the
    .mat, :mod:`siamtrack.models.cfnet`); hyper-parameters of bertinetto/cfnet
    ``src/tracking/run_cfnet<convs>_evaluation.m``, the rest ``tracker.m`` defaults (``corrfilt`` mode)."""
    return {
        "tracker": "cfnet",
        "reference": f"bertinetto/cfnet src/tracking/run_cfnet{convs}_evaluation.m + tracker.m (corrfilt)",
        "loader": "cfnet_mat",
        "model": {"convs": convs},  # conv layers of the feature branch: tells a conv1 .mat from a conv2 one
        "track": {
            "exemplar_size": 255,  # tracker.m: corrfilt -> exemplarSize = instanceSize = 255
            "instance_size": 255,
            "context_amount": 0.5,
            "scale_num": 3,
            "scale_step": scale_step,
            "scale_penalty": scale_penalty,
            "scale_lr": scale_lr,
            "window_influence": window_influence,
            "z_lr": z_lr,
            "response_up": 8,
            "total_stride": 4,
            "min_scale_factor": 0.2,
            "max_scale_factor": 5.0,
            "lost_threshold": 0.0,  # siamtrack's lost flag only: the adjusted peak logit below 0
        },
        # the _gray network is used for grayscale sequences (tracker.m net_gray); found beside `file`
        "weights": {"file": file, "gray_file": gray_file, "url": CFNET_URL},
    }


PRESETS = {
    "nanotrack-v1": _nanotrack(1, "mobilenetv3_small", 64, "nanotrack_ban_v1", 16, 0.148, 0.462, 0.39),
    "nanotrack-v2": _nanotrack(2, "mobilenetv3_small", 64, "nanotrack_ban_v2", 16, 0.15, 0.49, 0.385),
    "nanotrack-v3": _nanotrack(3, "mobilenetv3_small_v3", 96, "nanotrack_ban_v3", 15, 0.138, 0.455, 0.348),
    "siamrpn-alex": _pysot("siamrpn_alex_dwxcorr", 0.16, 0.4, 0.3, 287, 0),
    # Up-channel RPN head (SiamRPN) on the pysot AlexNet: the fixture siamrpn_alex_upchannel (its config.yaml).
    "siamrpn-alex-upchannel": _pysot("siamrpn_alex_upchannel", 0.16, 0.4, 0.3, 287, 0),
    "siamrpn++-mobilev2": {**_pysot("siamrpn_mobilev2_l234_dwxcorr", 0.04, 0.4, 0.5, 255, 8), "bf16_f32_stem_stride": 8},
    "siamrpn++-r50": _pysot("siamrpn_r50_l234_dwxcorr", 0.05, 0.42, 0.38, 255, 8),
    "siamrpn++-r50-otb": _pysot("siamrpn_r50_l234_dwxcorr_otb", 0.24, 0.5, 0.25, 255, 8),
    # pysot SiamRPNLTTracker; LOST_INSTANCE_SIZE is pysot's default (pysot/core/config.py).
    "siamrpn++-lt": _pysot("siamrpn_r50_l234_dwxcorr_lt", 0.05, 0.28, 0.22, 255, 8, tracker="siamrpn_lt",
                           lost_instance_size=831, confidence_low=0.8, confidence_high=0.998),
    # DaSiamRPN (Zhu et al., ECCV 2018): SiamRPNvot (VOT2018 entry), SiamRPNBIG (2x wider), SiamRPNotb.
    "siamrpn": _dasiamrpn("SiamRPNvot", 1, 256, "SiamRPNVOT.model", 0.04, 0.44, 0.45, False),
    "siamrpn-big": _dasiamrpn("SiamRPNBIG", 2, 512, "SiamRPNBIG.model", 0.055, 0.42, 0.295, True),
    "siamrpn-otb": _dasiamrpn("SiamRPNotb", 1, 256, "SiamRPNOTB.model", 0.22, 0.4, 0.3, False),
    # SiamMask (Wang et al., CVPR 2019): pysot's model zoo model, and foolwood/SiamMask's three checkpoints
    # (VOT, VOT "LD" = trained on more data, tested with config_vot18.json; DAVIS) with their configs.
    "siammask": _siammask("STVIR/pysot@d04028f experiments/siammask_r50_l3/config.yaml", "siammask", "pysot",
                          "siammask_r50_l3.pth", PYSOT_URL, 0.1, 0.41, 0.32, 0.15, 0.0),
    "siammask-vot": _siammask(_SHARP + "config_vot.json", "siammask_sharp", "foolwood", "SiamMask_VOT.pth",
                              SIAMMASK_URL, 0.04, 0.42, 0.25, 0.3, -1.0),
    "siammask-vot-ld": _siammask(_SHARP + "config_vot18.json", "siammask_sharp", "foolwood", "SiamMask_VOT_LD.pth",
                                 SIAMMASK_URL, 0.10, 0.41, 0.32, 0.15, -1.0),
    "siammask-davis": _siammask(_SHARP + "config_davis.json", "siammask_sharp", "foolwood", "SiamMask_DAVIS.pth",
                                SIAMMASK_URL, 0.04, 0.4, 1.0, 0.35, -1.0),
    # SiamFC (siamfc-pytorch) and CFNet (bertinetto/cfnet, MatConvNet networks).
    "siamfc": _siamfc(),
    "cfnet-conv1": _cfnet(1, "cfnet-conv1_e75.mat", "cfnet-conv1_gray_e55.mat", 1.0355, 0.9825, 0.7, 0.2375, 0.0058),
    "cfnet-conv2": _cfnet(2, "cfnet-conv2_e80.mat", "cfnet-conv2_gray_e40.mat", 1.0575, 0.9780, 0.52, 0.2625, 0.005),
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
