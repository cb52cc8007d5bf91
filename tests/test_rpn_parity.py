"""pysot SiamRPN / SiamRPN++ networks against the reference recordings in ../shared/fixtures/siamrpn_*.

Network level: each model is built from :data:`siamtrack.models.pysot_configs.PYSOT_MODELS`,
loaded strictly with the fixture's deterministic synthetic weights (plain, and
"conditioned" by the manifest's power-of-two rescaling) and run on the
recorded crops (io.npz / io_cond.npz) by the reference path ``model(z, x)``
and by the fast path (``prepare_inference`` + ``template`` / ``track``).
Every recorded output must agree within 1e-4 of its own scale
(``max|diff| / max|ref|``): the plain weights give activations of order 1e6.

Unit tests: the heads on tiny random tensors (shapes, and ``template`` /
``track`` equal to ``forward``, also after BatchNorm folding and the
channels-last conversion), the backbones' output shapes and key layouts.
"""


import numpy as np
import pytest
import torch
from torch import nn

from siamtrack.errors import SiamtrackError
from siamtrack.models.checkpoint import load_strict
from siamtrack.models.fuse import fold_batchnorm, pointwise_as_linear
from siamtrack.models.pysot_configs import PYSOT_MODELS, pysot_model_config
from siamtrack.models.registry import BACKBONES, HEADS, NECKS
from siamtrack.models.siamese import build_model

from conftest import fixture_manifest, fixture_weights

FIXTURES = ["siamrpn_alex_dwxcorr", "siamrpn_alex_upchannel", "siamrpn_mobilev2_l234_dwxcorr",
            "siamrpn_r50_l234_dwxcorr"]
TOL = 1e-4


def _rel(out: torch.Tensor, ref: np.ndarray) -> float:
    assert tuple(out.shape) == ref.shape, (tuple(out.shape), ref.shape)
    return float(np.abs(out.detach().float().numpy() - ref).max() / np.abs(ref).max())


def _features_rel(feats, io) -> list:
    if isinstance(feats, (list, tuple)):
        return [_rel(f, io[f"zf_{i}"]) for i, f in enumerate(feats)]
    return [_rel(feats, io["zf"])]


def test_configs_cover_fixtures():
    assert set(FIXTURES) <= set(PYSOT_MODELS)  # every fixture has its config (the _otb / _lt ones have no fixture)
    cfg = pysot_model_config("siamrpn_r50_l234_dwxcorr")
    cfg["head"]["weighted"] = False
    assert PYSOT_MODELS["siamrpn_r50_l234_dwxcorr"]["head"]["weighted"] is True  # a private copy
    with pytest.raises(KeyError, match="siamrpn_alex_dwxcorr"):
        pysot_model_config("siamrpn_nope")


@pytest.mark.parametrize("name", FIXTURES)
def test_key_layout_matches_reference(shared_dir, name):
    """Same keys, shapes and dtypes as pysot's ModelBuilder, in the same state-dict order."""
    model = build_model(pysot_model_config(name))
    ours = [[k, list(v.shape), str(v.dtype).replace("torch.", "")] for k, v in model.state_dict().items()]
    assert ours == fixture_manifest(shared_dir, name)["keys"]


@pytest.mark.parametrize("variant", ["plain", "cond"])
@pytest.mark.parametrize("name", FIXTURES)
def test_network_outputs_match_reference(shared_dir, name, variant):
    io = np.load(shared_dir / "fixtures" / name / ("io.npz" if variant == "plain" else "io_cond.npz"))
    z, x = torch.from_numpy(io["z_crop"]), torch.from_numpy(io["x_crop"])
    model = build_model(pysot_model_config(name))
    load_strict(model, fixture_weights(shared_dir, name, variant), name)
    model.eval()
    with torch.inference_mode():
        errs = {"zf": max(_features_rel(model.features(z), io))}
        cls, loc = model(z, x)  # reference path
        errs["cls"], errs["loc"] = _rel(cls, io["cls"]), _rel(loc, io["loc"])
        model.prepare_inference()  # BN folded, channels-last, template branch cached
        cls, loc = model.track(model.template(z), x)
        errs["cls_fast"], errs["loc_fast"] = _rel(cls, io["cls"]), _rel(loc, io["loc"])
    assert max(errs.values()) < TOL, errs


def test_siammask_resnet50_l0123_neck_and_rpn(shared_dir):
    """ResNet-50 ``used_layers=[0, 1, 2, 3]`` (SiamMask): keys, and zf / cls / loc through its last level."""
    name = "siammask_r50_l3"
    manifest = fixture_manifest(shared_dir, name)
    io = np.load(shared_dir / "fixtures" / name / "io_cond.npz")
    cfg = manifest["config"]
    backbone = BACKBONES.build({"type": "resnet50", **cfg["BACKBONE"]["KWARGS"]})
    neck = NECKS.build({"type": "adjust_all_layer", **cfg["ADJUST"]["KWARGS"]})
    head = HEADS.build({"type": "depthwise_rpn", **cfg["RPN"]["KWARGS"]})
    sd = fixture_weights(shared_dir, name, "cond")
    for prefix, module in (("backbone.", backbone), ("neck.", neck), ("rpn_head.", head)):
        part = {k[len(prefix):]: v for k, v in sd.items() if k.startswith(prefix)}
        assert list(module.state_dict()) == list(part)
        load_strict(module, part, name)
        module.eval()
    with torch.inference_mode():
        zs = backbone(torch.from_numpy(io["z_crop"]))
        xs = backbone(torch.from_numpy(io["x_crop"]))
        assert [f.shape[1] for f in zs] == [64, 256, 512, 1024] == backbone.out_channels
        assert [tuple(f.shape[2:]) for f in xs] == [(125, 125), (63, 63), (31, 31), (31, 31)]
        zf, xf = neck(zs[-1]), neck(xs[-1])
        assert _rel(zf, io["zf"]) < TOL
        cls, loc = head(zf, xf)
        assert _rel(cls, io["cls"]) < TOL and _rel(loc, io["loc"]) < TOL


# ---------------------------------------------------------------- unit tests of the heads (tiny tensors)


def _randomize(module: nn.Module, seed: int = 0) -> nn.Module:
    """Random weights and BatchNorm statistics (so folding is exercised), eval mode."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, t in module.state_dict().items():
            if not t.is_floating_point():
                continue
            if name.endswith("running_var"):
                t.copy_(0.5 + torch.rand(t.shape, generator=g))
            elif t.dim() == 1 and name.endswith("weight"):
                t.copy_(1 + 0.2 * torch.randn(t.shape, generator=g))
            else:
                fan_in = max(1, int(np.prod(t.shape[1:]))) if t.dim() > 1 else 1
                t.copy_(torch.randn(t.shape, generator=g) / fan_in ** 0.5)
    return module.eval()


def _inference_graph(head: nn.Module) -> nn.Module:
    """What ``SiameseModel.prepare_inference`` does to a head."""
    fold_batchnorm(head)
    pointwise_as_linear(head)
    return head.to(memory_format=torch.channels_last)


def _close(a: torch.Tensor, b: torch.Tensor, tol: float = 1e-5):
    assert a.shape == b.shape
    assert float((a - b).abs().max()) <= tol * float(b.abs().max()), float((a - b).abs().max())


def _feats(shape, n=None, seed=1):
    g = torch.Generator().manual_seed(seed)
    if n is None:
        return torch.randn(shape, generator=g)
    return [torch.randn(shape, generator=g) for _ in range(n)]


def _check_template_track(head, zf, xf, cls_shape, loc_shape):
    with torch.no_grad():
        cls, loc = head(zf, xf)
        assert tuple(cls.shape) == cls_shape and tuple(loc.shape) == loc_shape
        c2, l2 = head.track(head.template(zf), xf)
        _close(c2, cls)
        _close(l2, loc)
        fast = _inference_graph(head)
        to_cl = (lambda f: [t.contiguous(memory_format=torch.channels_last) for t in f]) if isinstance(
            zf, list) else (lambda t: t.contiguous(memory_format=torch.channels_last))
        c3, l3 = fast.track(fast.template(to_cl(zf)), to_cl(xf))
        _close(c3, cls)
        _close(l3, loc)
        c4, l4 = fast(zf, xf)  # the reference path still works on the folded graph
        _close(c4, cls)
        _close(l4, loc)


@pytest.mark.parametrize("batch", [1, 2])
def test_upchannel_rpn_head(batch):
    head = _randomize(HEADS.build({"type": "upchannel_rpn", "anchor_num": 3, "feature_in": 8}))
    assert head.template_cls_conv.out_channels == 8 * 6 and head.template_loc_conv.out_channels == 8 * 12
    zf, xf = _feats((batch, 8, 6, 6)), _feats((batch, 8, 22, 22), seed=2)
    # template kernels 4x4, search 20x20 -> 17x17
    _check_template_track(head, zf, xf, (batch, 6, 17, 17), (batch, 12, 17, 17))


@pytest.mark.parametrize("batch", [1, 2])
def test_depthwise_rpn_head(batch):
    head = _randomize(HEADS.build({"type": "depthwise_rpn", "anchor_num": 5, "in_channels": 8, "out_channels": 12}))
    assert [k for k in head.state_dict() if k.startswith("cls.head.")][-2:] == ["cls.head.3.weight", "cls.head.3.bias"]
    zf, xf = _feats((batch, 8, 7, 7)), _feats((batch, 8, 31, 31), seed=2)
    _check_template_track(head, zf, xf, (batch, 10, 25, 25), (batch, 20, 25, 25))


@pytest.mark.parametrize("weighted", [False, True])
def test_multi_rpn_head(weighted):
    head = _randomize(HEADS.build({"type": "multi_rpn", "anchor_num": 5, "in_channels": [8, 8, 8],
                                   "weighted": weighted}))
    assert [n for n, _ in head.named_children()] == ["rpn2", "rpn3", "rpn4"]
    assert hasattr(head, "cls_weight") == weighted
    zf, xf = _feats((1, 8, 7, 7), 3), _feats((1, 8, 15, 15), 3, seed=2)
    _check_template_track(head, zf, xf, (1, 10, 9, 9), (1, 20, 9, 9))
    with torch.no_grad():  # the mix: average, or softmax-weighted sum
        cls, loc = head(zf, xf)
        per_level = [getattr(head, f"rpn{i + 2}")(z, x) for i, (z, x) in enumerate(zip(zf, xf))]
        wc = torch.softmax(head.cls_weight, 0) if weighted else torch.full((3,), 1 / 3)
        wl = torch.softmax(head.loc_weight, 0) if weighted else torch.full((3,), 1 / 3)
        _close(cls, sum(w * p[0] for w, p in zip(wc, per_level)))
        _close(loc, sum(w * p[1] for w, p in zip(wl, per_level)))
        with pytest.raises(ValueError, match="list of 3"):
            head(zf[:2], xf[:2])


def test_single_level_heads_accept_one_element_lists():
    head = _randomize(HEADS.build({"type": "depthwise_rpn", "anchor_num": 5, "in_channels": 8, "out_channels": 8}))
    zf, xf = _feats((1, 8, 7, 7)), _feats((1, 8, 15, 15), seed=2)
    with torch.no_grad():
        _close(head([zf], [xf])[0], head(zf, xf)[0])
        with pytest.raises(ValueError):
            head([zf, zf], [xf, xf])
        with pytest.raises(ValueError, match="batch"):
            head.track(head.template(zf), torch.cat([xf, xf]))


# ---------------------------------------------------------------- backbones


def test_alexnet_variants_compute_the_same_network():
    legacy = _randomize(BACKBONES.build({"type": "alexnetlegacy"}))
    layered = BACKBONES.build({"type": "alexnet"}).eval()
    # features.<i> -> layer<stage>.<j>: same modules, regrouped
    starts = [0, 4, 8, 11, 14]
    mapping = {}
    for k, v in legacy.state_dict().items():
        i = int(k.split(".")[1])
        stage = max(s for s in range(5) if starts[s] <= i)
        mapping[f"layer{stage + 1}.{i - starts[stage]}.{k.split('.', 2)[2]}"] = v
    layered.load_state_dict(mapping, strict=True)
    x = _feats((1, 3, 127, 127)) * 50 + 100
    with torch.no_grad():
        out = legacy(x)
        assert out.shape == (1, 256, 6, 6)
        _close(layered(x), out)
    half = BACKBONES.build({"type": "alexnet", "width_mult": 0.5})
    assert half.layer1[0].weight.shape == (48, 3, 11, 11) and half.out_channels == 128


def test_mobilenetv2_levels():
    net = BACKBONES.build({"type": "mobilenetv2", "width_mult": 1.4, "used_layers": [3, 5, 7]}).eval()
    assert net.out_channels == [44, 134, 448]
    with torch.no_grad():
        outs = net(_feats((1, 3, 127, 127)))
    assert [tuple(o.shape) for o in outs] == [(1, 44, 15, 15), (1, 134, 15, 15), (1, 448, 15, 15)]
    single = BACKBONES.build({"type": "mobilenetv2", "used_layers": [2]}).eval()
    with torch.no_grad():
        assert single(_feats((1, 3, 63, 63))).shape == (1, 24, 15, 15)
    with pytest.raises(ValueError):
        BACKBONES.build({"type": "mobilenetv2", "used_layers": [8]})


def test_resnet50_builds_only_used_layers():
    net = BACKBONES.build({"type": "resnet50", "used_layers": [3]})
    keys = net.state_dict().keys()
    assert any(k.startswith("layer3.") for k in keys) and not any(k.startswith("layer4.") for k in keys)
    assert net.out_channels == [1024]
    assert net.layer3[0].conv2.dilation == (1, 1) and net.layer3[1].conv2.dilation == (2, 2)
    assert net.layer2[0].downsample[0].kernel_size == (3, 3) and net.layer2[0].conv2.padding == (0, 0)
    with pytest.raises(ValueError):
        BACKBONES.build({"type": "resnet50", "used_layers": [5]})


def test_fold_batchnorm_covers_resnet_attribute_pairs():
    net = _randomize(BACKBONES.build({"type": "resnet50", "used_layers": [1]}))
    x = _feats((1, 3, 63, 63)) * 50
    with torch.no_grad():
        ref = net(x)
        # stem + layer1 (3 bottlenecks + shortcut) + layer2 (4 + shortcut; always built, as pysot)
        assert fold_batchnorm(net) == 1 + (3 * 3 + 1) + (4 * 3 + 1)
        assert not any(isinstance(m, nn.BatchNorm2d) for m in net.modules())
        _close(net(x), ref)


def test_wrong_checkpoint_is_refused(shared_dir):
    model = build_model(pysot_model_config("siamrpn_alex_dwxcorr"))
    sd = fixture_weights(shared_dir, "siamrpn_alex_upchannel", "plain")
    with pytest.raises(SiamtrackError, match="not a checkpoint of model"):
        load_strict(model, sd, "siamrpn_alex_dwxcorr")
