"""CFNet (Valmadre et al., "End-to-end representation learning for Correlation Filter based tracking", CVPR 2017)
read from the official MatConvNet DagNN files.

The networks of bertinetto/cfnet (``cfnet-conv1_e75.mat``,
``cfnet-conv2_e80.mat`` and their ``_gray`` variants, see
``../shared/weights/README.md``) are MAT v5 files whose ``net`` struct holds
``params`` (name, value) and ``layers`` (name, type, inputs, outputs,
params, block): the graph. :func:`read_dagnn` reads it with
``scipy.io.loadmat``; :func:`build_cfnet` interprets it:

* the exemplar branch ``exemplar -> ... -> CorrFilter`` and the search branch
  ``instance -> ... -> XCorr`` are chains of ``dagnn.Conv``,
  ``dagnn.BatchNorm``, ``dagnn.ReLU``, ``dagnn.Pooling`` sharing their
  parameters (``br1_*`` / ``br2_*`` name the same ``br_*`` params), the
  exemplar branch ending with ``MulConst`` (the cosine window
  ``join_window``);
* ``CorrFilter`` (``src/util/corr_filter.m``): the correlation filter solved in
  closed form in the Fourier domain, :func:`corr_filter`;
* ``CropMargin`` (``src/util/CropMargin.m``): ``margin`` feature cells removed
  on each side of the filter;
* ``XCorr`` (``src/util/XCorr.m`` / ``cross_corr.m``): cross-correlation of the
  cropped filter with the search features (``vl_nnconv``, no flip);
* ``fin_adjust``: a 1x1 ``dagnn.Conv`` with a scalar weight and bias, the
  "adjust" layer turning correlations into logits.

MatConvNet conventions: arrays are ``H x W x C x N``; conv filters
``kh x kw x cin/groups x cout`` (groups = input channels / filter depth);
``vl_nnconv`` is a cross-correlation like ``torch.nn.functional.conv2d``;
``vl_nnbnorm`` in test mode uses the stored moments ``[mean, sigma]`` with
``y = g (x - mean) / sigma + b`` (sigma already includes epsilon:
vlfeat/matconvnet ``matlab/src/bits/impl/bnorm_cpu.cpp``
``forward_given_moments``), here a ``BatchNorm2d`` with ``eps = 0`` and
``running_var = sigma^2``. Input images are **RGB** (MATLAB ``imread``),
raw 0..255, no mean subtraction (``tracker.m`` ``subMean = false``).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
from torch import nn

from siamtrack.errors import SiamtrackError, missing_path_error
from siamtrack.models.fuse import fold_batchnorm
from siamtrack.models.registry import LOADERS
from siamtrack.models.xcorr import xcorr_fft

__all__ = ["corr_filter", "read_dagnn", "build_cfnet", "CFNet", "CFNetPair", "load_cfnet_mat", "is_gray_weights"]

CHAIN_TYPES = ("dagnn.Conv", "dagnn.BatchNorm", "dagnn.ReLU", "dagnn.Pooling")


# ----------------------------------------------------------------------------- the correlation filter


def corr_filter(x: torch.Tensor, y: torch.Tensor, lam: float) -> torch.Tensor:
    """Closed-form correlation filter of CFNet (bertinetto/cfnet ``src/util/corr_filter.m``, forward pass).

    With ``n = H * W`` and 2-D DFTs over the last two axes::

        k_f = 1/n * sum_c conj(x_f[c]) * x_f[c] + lam    (autocorrelation + regulariser)
        a_f = 1/n * y_f / k_f                             (dual variables: n (k * a) = y)
        w_f[c] = conj(a_f) * x_f[c]                       (w[c] = a correlated with x[c])
        w = real(ifft2(w_f))

    i.e. the ridge regression ``w = argmin_w ||X w - y||^2 + n * lam * ||w||^2``
    over all circular shifts ``X`` of ``x`` (checked against that direct
    solution in ``tests/test_cfnet.py``). Computed in float64 with real FFTs.

    Args:
        x: ``(B, C, H, W)`` windowed exemplar features.
        y: ``(H, W)`` desired response (``join_cf_target``, peak at ``[0, 0]``).
        lam: regularisation ``lambda`` of the ``CorrFilter`` block.

    Returns:
        ``(B, C, H, W)`` filter, in ``x``'s dtype.
    """
    h, w = x.shape[-2:]
    if tuple(y.shape) != (h, w):
        raise ValueError(f"corr_filter: target {tuple(y.shape)} does not match the features {(h, w)}")
    n = h * w
    xf = torch.fft.rfft2(x.to(dtype=torch.float64, memory_format=torch.contiguous_format))
    yf = torch.fft.rfft2(y.double())
    kf = (xf.real.square() + xf.imag.square()).sum(1, keepdim=True) / n + lam
    af = yf / kf / n
    return torch.fft.irfft2(af.conj() * xf, s=(h, w)).to(x.dtype)


# ----------------------------------------------------------------------------- reading the DagNN


def _strs(v) -> list:
    """A MATLAB cell of strings / a string / an empty array as a list of str."""
    if isinstance(v, str):
        return [v] if v else []
    if isinstance(v, np.ndarray):
        return [str(s) for s in v.ravel() if str(s)]
    return []


def _block(b) -> dict:
    if b is None or isinstance(b, np.ndarray):
        return {}
    return {k: getattr(b, k) for k in getattr(b, "_fieldnames", [])}


def read_dagnn(path: str | os.PathLike) -> dict:
    """Read a MatConvNet DagNN ``.mat`` file.

    Returns ``{"layers": [{"name", "type", "inputs", "outputs", "params",
    "block"}...], "params": {name: np.ndarray float32}}`` (scalars as 0-d
    arrays; ``squeeze_me`` dropped singleton axes, the builders restore them).

    Raises:
        SiamtrackError: the file is missing (``<path>: no such file or folder``),
            is not a MAT file scipy can read
            (MAT v7.3 / HDF5 included), or holds no DagNN ``net`` with
            ``layers`` and ``params``.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise missing_path_error(path)
    import scipy.io

    try:
        mat = scipy.io.loadmat(path, squeeze_me=True, struct_as_record=False, variable_names=["net"])
    except NotImplementedError as e:  # MAT v7.3 (HDF5)
        raise SiamtrackError(f"{path}: unsupported MAT file version ({e})") from None
    except Exception as e:  # noqa: BLE001 - scipy raises ValueError, MatReadError, TypeError, ... on garbage
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise SiamtrackError(f"{path}: not a readable MATLAB .mat file ({first})") from None
    net = mat.get("net")
    if net is None:
        raise SiamtrackError(f"{path}: no 'net' variable: not a MatConvNet DagNN network file")
    fields = set(getattr(net, "_fieldnames", []) or [])
    if not {"layers", "params"} <= fields:
        raise SiamtrackError(f"{path}: 'net' has no layers / params: not a MatConvNet DagNN network")
    layers = []
    for layer in np.atleast_1d(net.layers):
        try:
            layers.append({"name": str(layer.name), "type": str(layer.type), "inputs": _strs(layer.inputs),
                           "outputs": _strs(layer.outputs), "params": _strs(layer.params),
                           "block": _block(getattr(layer, "block", None))})
        except AttributeError as e:
            raise SiamtrackError(f"{path}: malformed DagNN layer list ({e})") from None
    params = {}
    for p in np.atleast_1d(net.params):
        try:
            params[str(p.name)] = np.asarray(p.value, dtype=np.float32)
        except (AttributeError, TypeError, ValueError) as e:
            raise SiamtrackError(f"{path}: malformed DagNN parameter list ({e})") from None
    if not layers:
        raise SiamtrackError(f"{path}: the DagNN has no layers")
    return {"layers": layers, "params": params}


# ----------------------------------------------------------------------------- interpreting it


def _pair(v, name: str) -> tuple:
    a = np.atleast_1d(np.asarray(v)).astype(int).ravel()
    if a.size == 1:
        return int(a[0]), int(a[0])
    if a.size == 2:
        return int(a[0]), int(a[1])
    raise ValueError(f"{name}: expected 1 or 2 numbers, got {a.tolist()}")


def _pads(v) -> tuple:
    """MatConvNet ``[top bottom left right]`` (or one number)."""
    a = np.atleast_1d(np.asarray(v)).astype(int).ravel()
    if a.size == 1:
        return (int(a[0]),) * 4
    if a.size == 4:
        return tuple(int(p) for p in a)
    raise ValueError(f"pad: expected 1 or 4 numbers, got {a.tolist()}")


class MulConst(nn.Module):
    """``y = x .* c`` with a constant ``(H, W)`` map broadcast over batch and channels (cfnet ``MulConst.m``)."""

    def __init__(self, const: torch.Tensor):
        super().__init__()
        self.register_buffer("const", const)

    def forward(self, x):
        return x * self.const


def _param(dag: dict, name: str, shape=None) -> np.ndarray:
    if name not in dag["params"]:
        raise ValueError(f"parameter {name!r} is missing")
    v = dag["params"][name]
    if shape is not None:
        if v.size != int(np.prod(shape)):
            raise ValueError(f"parameter {name!r} has {v.size} values, expected shape {tuple(shape)}")
        v = v.reshape(shape)  # squeeze_me only dropped singleton axes: a C-order reshape restores them
    return v


def _conv(layer: dict, dag: dict, in_channels: int) -> tuple:
    """``dagnn.Conv`` -> (modules, out_channels)."""
    blk = layer["block"]
    size = [int(s) for s in np.atleast_1d(blk["size"]).ravel()]
    if len(size) != 4:
        raise ValueError(f"{layer['name']}: filter size {size} is not kh x kw x cin x cout")
    kh, kw, cin_g, cout = size
    if in_channels % cin_g:
        raise ValueError(f"{layer['name']}: {in_channels} input channels for filters of depth {cin_g}")
    groups = in_channels // cin_g
    has_bias = bool(int(blk.get("hasBias", 1)))
    names = layer["params"]
    filters = _param(dag, names[0], (kh, kw, cin_g, cout))
    top, bottom, left, right = _pads(blk.get("pad", 0))
    conv = nn.Conv2d(in_channels, cout, (kh, kw), stride=_pair(blk.get("stride", 1), "stride"),
                     dilation=_pair(blk.get("dilate", 1), "dilate"), groups=groups, bias=has_bias,
                     padding=(top, left) if (top == bottom and left == right) else 0)
    with torch.no_grad():
        conv.weight.copy_(torch.from_numpy(np.ascontiguousarray(filters.transpose(3, 2, 0, 1))))
        if has_bias:
            conv.bias.copy_(torch.from_numpy(_param(dag, names[1], (cout,))))
    mods = [conv] if (top == bottom and left == right) else [nn.ZeroPad2d((left, right, top, bottom)), conv]
    return mods, cout


def _bnorm(layer: dict, dag: dict, channels: int) -> nn.BatchNorm2d:
    g_name, b_name, m_name = layer["params"]
    bn = nn.BatchNorm2d(channels, eps=0.0)
    moments = _param(dag, m_name, (channels, 2))
    with torch.no_grad():
        bn.weight.copy_(torch.from_numpy(_param(dag, g_name, (channels,))))
        bn.bias.copy_(torch.from_numpy(_param(dag, b_name, (channels,))))
        bn.running_mean.copy_(torch.from_numpy(moments[:, 0].copy()))
        bn.running_var.copy_(torch.from_numpy(moments[:, 1].astype(np.float64) ** 2).float())
    return bn


def _pool(layer: dict) -> nn.Module:
    blk = layer["block"]
    top, bottom, left, right = _pads(blk.get("pad", 0))
    if top != bottom or left != right:
        raise ValueError(f"{layer['name']}: asymmetric pooling padding is not supported")
    size, stride = _pair(blk["poolSize"], "poolSize"), _pair(blk.get("stride", 1), "stride")
    method = str(blk.get("method", "max"))
    if method == "max":
        return nn.MaxPool2d(size, stride, padding=(top, left))
    if method == "avg" and top == 0 and left == 0:
        return nn.AvgPool2d(size, stride)
    raise ValueError(f"{layer['name']}: pooling method {method!r} with padding is not supported")


def _chain(dag: dict, producer: dict, var: str) -> tuple:
    """Layers producing ``var`` from a network input, in forward order; returns (input var, layers)."""
    layers = []
    while var in producer:
        layer = producer[var]
        if len(layer["inputs"]) != 1 or len(layer["outputs"]) != 1:
            raise ValueError(f"layer {layer['name']} ({layer['type']}) is not a single-input layer of a branch")
        layers.append(layer)
        var = layer["inputs"][0]
        if len(layers) > len(dag["layers"]):
            raise ValueError("the graph has a cycle")
    return var, layers[::-1]


def _branch(dag: dict, layers: list) -> tuple:
    """Chain layers -> (nn.Sequential, number of convs, [param names])."""
    mods, channels, convs, names = [], 3, 0, []
    for layer in layers:
        t = layer["type"]
        if t == "dagnn.Conv":
            m, channels = _conv(layer, dag, channels)
            mods += m
            convs += 1
        elif t == "dagnn.BatchNorm":
            mods.append(_bnorm(layer, dag, channels))
        elif t == "dagnn.ReLU":
            leak = float(layer["block"].get("leak", 0) or 0)
            mods.append(nn.ReLU(inplace=True) if leak == 0 else nn.LeakyReLU(leak, inplace=True))
        elif t == "dagnn.Pooling":
            mods.append(_pool(layer))
        else:
            raise ValueError(f"layer {layer['name']}: type {t} is not supported in a feature branch")
        names.append((t, tuple(layer["params"])))
    return nn.Sequential(*mods), convs, names


class CFNet(nn.Module):
    """One CFNet network: shared feature branch, window, correlation filter, crop, cross-correlation, adjust.

    * ``template(z)``: exemplar crop ``(B, 3, 255, 255)`` float32 RGB ->
      cropped filter ``(B, C, h, w)`` (conv2: 32 x 25 x 25; conv1: 32 x 30 x 30).
    * ``track(template, x)``: search crops ``(N, 3, 255, 255)`` -> ``join_out``
      ``(N, 1, 33, 33)``: the correlation before the adjust layer, what
      ``tracker.m`` reads in ``corrfilt`` mode. A template of batch 1 is
      correlated with every search crop (the scale pyramid).
    * ``adjust(r)``: ``fin_adjust``, ``r * scale + bias`` (logits).
    * ``forward(z, x)``: the whole reference graph (``score`` = adjust of the
      correlation), ``z`` and ``x`` of the same batch (or ``z`` of batch 1).
    """

    def __init__(self, backbone: nn.Sequential, window: torch.Tensor, target: torch.Tensor, lam: float, margin: int,
                 adjust: tuple, convs: int, source: str = ""):
        super().__init__()
        self.backbone = backbone
        self.register_buffer("window", window)
        self.register_buffer("target", target)
        self.lam = float(lam)
        self.margin = int(margin)
        self.adjust_scale, self.adjust_bias = float(adjust[0]), float(adjust[1])
        self.convs = int(convs)
        self.source = source
        self.memory_format = torch.contiguous_format

    def features(self, img: torch.Tensor) -> torch.Tensor:
        """The shared feature branch (``br1_*`` = ``br2_*``); ``(B, 3, H, W)`` -> ``(B, C, h, w)``."""
        return self.backbone(img.contiguous(memory_format=self.memory_format))

    def template(self, z: torch.Tensor) -> torch.Tensor:
        w = corr_filter(self.features(z) * self.window, self.target, self.lam)
        m = self.margin
        return w[..., m : w.shape[-2] - m, m : w.shape[-1] - m] if m else w

    def track(self, template: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """Correlation of the search features with the (B or 1) filter(s), via the DFT
        (:func:`~siamtrack.models.xcorr.xcorr_fft`: the 25x25 / 30x30 kernels are slow as convolutions)."""
        return xcorr_fft(self.features(x), template)

    def adjust(self, r: torch.Tensor) -> torch.Tensor:
        return r * self.adjust_scale + self.adjust_bias

    def forward(self, z: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        return self.adjust(self.track(self.template(z), x))

    def prepare_inference(self, channels_last: bool = True) -> "CFNet":
        """eval(), BatchNorm folded into the convolutions, gradients off; with ``channels_last`` the
        convolutions run in that layout (conv2's grouped 5x5 conv about twice as fast on CPU). In place."""
        self.eval()
        fold_batchnorm(self)
        for p in self.parameters():
            p.requires_grad_(False)
        if channels_last:
            self.memory_format = torch.channels_last
            self.backbone.to(memory_format=torch.channels_last)
        return self


def build_cfnet(dag: dict, path: str | os.PathLike = "network", expect_convs: int | None = None,
                model_name: str = "cfnet") -> CFNet:
    """Interpret a DagNN (see :func:`read_dagnn`) as a :class:`CFNet`.

    Raises:
        SiamtrackError: naming ``path``: no ``CorrFilter`` / ``XCorr`` block (e.g.
            a SiamFC baseline network), unsupported layers or parameters, or
            a network with another number of conv layers than
            ``expect_convs`` (a network of another preset).
    """
    path = os.fspath(path)
    try:
        producer = {}
        for layer in dag["layers"]:
            for out in layer["outputs"]:
                producer[out] = layer
        cfs = [lay for lay in dag["layers"] if lay["type"] == "CorrFilter"]
        if len(cfs) != 1:
            raise SiamtrackError(f"{path}: {len(cfs)} CorrFilter layers: not a CFNet network "
                                 f"(a SiamFC baseline has none)")
        cf = cfs[0]
        if bool(int(cf["block"].get("bias", 0))):
            raise ValueError("CorrFilter with bias is not supported")
        if len(cf["inputs"]) != 1 or len(cf["params"]) != 1:
            raise ValueError("CorrFilter must have one input and one parameter (the target)")
        _, z_layers = _chain(dag, producer, cf["inputs"][0])
        window = None
        if z_layers and z_layers[-1]["type"] == "MulConst":
            window = torch.from_numpy(_param(dag, z_layers[-1]["params"][0]).copy())
            z_layers = z_layers[:-1]
        consumers = {}
        for layer in dag["layers"]:
            for v in layer["inputs"]:
                consumers.setdefault(v, []).append(layer)
        var, margin = cf["outputs"][0], 0
        nxt = consumers.get(var, [])
        if len(nxt) == 1 and nxt[0]["type"] == "CropMargin":
            margin = int(nxt[0]["block"]["margin"])
            var = nxt[0]["outputs"][0]
        xcorrs = [lay for lay in consumers.get(var, []) if lay["type"] == "XCorr"]
        if len(xcorrs) != 1 or xcorrs[0]["inputs"][0] != var or len(xcorrs[0]["inputs"]) != 2:
            raise SiamtrackError(f"{path}: no XCorr layer correlating the filter with the search features: "
                                 f"not a CFNet network")
        xc = xcorrs[0]
        if bool(int(xc["block"].get("bias", 0))):
            raise ValueError("XCorr with bias is not supported")
        _, x_layers = _chain(dag, producer, xc["inputs"][1])
        backbone, convs, z_names = _branch(dag, z_layers)
        _, _, x_names = _branch(dag, x_layers)
        if z_names != x_names:
            raise ValueError("the exemplar and search branches do not share their layers and parameters")
        adjust = (1.0, 0.0)
        adj = [lay for lay in consumers.get(xc["outputs"][0], []) if lay["type"] == "dagnn.Conv"]
        if adj:
            p = adj[0]["params"]
            adjust = (float(_param(dag, p[0]).ravel()[0]), float(_param(dag, p[1]).ravel()[0]) if len(p) > 1 else 0.0)
        target = torch.from_numpy(_param(dag, cf["params"][0]).copy())
        lam = float(cf["block"].get("lambda", 0))
    except SiamtrackError:
        raise
    except (ValueError, KeyError, IndexError, TypeError) as e:
        raise SiamtrackError(f"{path}: unsupported or malformed CFNet DagNN ({e})") from None
    if expect_convs is not None and convs != expect_convs:
        raise SiamtrackError(f"{path}: not a network of model '{model_name}': its feature branch has {convs} "
                             f"conv layers, expected {expect_convs}")
    if window is None:
        window = torch.ones_like(target)
    if window.shape != target.shape:
        raise SiamtrackError(f"{path}: window {tuple(window.shape)} and CF target {tuple(target.shape)} differ")
    return CFNet(backbone, window, target, lam, margin, adjust, convs, source=path).eval()  # BN uses the moments


# ----------------------------------------------------------------------------- colour / grayscale pair


def is_gray_weights(preset: dict, path: str | os.PathLike) -> bool:
    """Whether ``path`` is the preset's grayscale network: its name is the preset's ``gray_file`` or contains
    ``gray`` (the official naming, ``*_gray_e*.mat``); colour and grayscale nets have the same layout."""
    from siamtrack.models.weights import cache_file_name

    gray_file = preset["weights"].get("gray_file")
    return bool(gray_file) and cache_file_name(preset, path) == gray_file


class CFNetPair(nn.Module):
    """A preset's colour network and its grayscale twin (either may be absent until needed).

    The reference (``tracker.m``) uses the ``_gray`` network when the first
    frame has one channel; :meth:`select` returns the network for a sequence.
    """

    def __init__(self, color: CFNet | None, gray: CFNet | None, missing: dict | None = None, name: str = "cfnet"):
        super().__init__()
        self.color = color
        self.gray = gray
        self.missing = dict(missing or {})
        self.name = name

    def select(self, grayscale: bool) -> CFNet:
        """The network for a grayscale (or colour) sequence.

        Raises:
            SiamtrackError: that network's file was not found (the message names it).
        """
        kind = "gray" if grayscale else "color"
        net = getattr(self, kind)
        if net is None:
            what = "grayscale" if grayscale else "colour"
            raise SiamtrackError(f"model '{self.name}' needs its {what} network for this sequence: "
                                 f"{self.missing.get(kind, 'not loaded')}")
        return net

    def prepare_inference(self) -> "CFNetPair":
        for net in (self.color, self.gray):
            if net is not None:
                net.prepare_inference()
        return self


def _find_companion(path: Path, name: str) -> Path | None:
    from siamtrack.models.weights import search_dirs

    for d in [path.parent] + list(search_dirs()):
        if (Path(d) / name).is_file():
            return Path(d) / name
    return None


@LOADERS.register("cfnet_mat")
def load_cfnet_mat(preset: dict, path: str | os.PathLike, companions: bool = True) -> CFNetPair:
    """Weights loader of the CFNet presets (preset ``"loader": "cfnet_mat"``).

    ``path`` is the colour or the grayscale network (:func:`is_gray_weights`);
    with ``companions`` the other one is looked for beside it, then in the
    weights search folders (:func:`siamtrack.models.weights.search_dirs`);
    when absent, the pair reports it only if a sequence needs it.

    Raises:
        SiamtrackError: a file that is not a CFNet DagNN of this preset.
    """
    path = Path(path)
    info, name = preset["weights"], preset.get("name", "cfnet")
    expect = preset.get("model", {}).get("convs")
    gray = is_gray_weights(preset, path)
    nets = {"gray" if gray else "color": build_cfnet(read_dagnn(path), path, expect, name)}
    missing = {}
    other, other_file = ("color", info["file"]) if gray else ("gray", info.get("gray_file"))
    if companions and other_file:
        found = _find_companion(path, other_file)
        if found is not None:
            nets[other] = build_cfnet(read_dagnn(found), found, expect, name)
        else:
            from siamtrack.models.weights import search_dirs

            where = ", ".join(str(d) for d in [path.parent] + list(search_dirs()))
            missing[other] = (f"{other_file} not found in {where} (siamtrack weights import it; "
                              f"published at {info.get('url', '?')})")
    elif other_file:
        missing[other] = f"{other_file} not loaded"
    return CFNetPair(nets.get("color"), nets.get("gray"), missing, name)
