"""CFNet tracker against a literal, independent transliteration of the MATLAB reference.

The helpers below re-state bertinetto/cfnet's tracking code in its own
1-based terms, deliberately without reusing siamtrack's crop / resize / peak
code, so that a change to :mod:`siamtrack.tracker.cfnet`,
:mod:`siamtrack.tracker.pyramid` or :mod:`siamtrack.models.cfnet` that departs
from the reference shows up here:

* ``src/tracking/get_subwindow_tracking.m``: first pixel
  ``round(pos - (sz + 1) / 2)`` (MATLAB ``round``), the whole frame padded
  with ``avgChans`` (``padarray``), then ``imresize(patch, model_sz /
  original_sz)`` (a *scale*: output ``ceil(scale * size)``, else the size
  form as fallback);
* MATLAB ``imresize.m`` (``contributions``, ``cubic``): bicubic ``a = -0.5``,
  antialiasing kernel ``scale * cubic(scale * x)`` of width ``4 / scale``
  when shrinking, mirrored borders, rows then columns;
* ``src/tracking/make_scale_pyramid.m``: one region of side
  ``round(s * scale_max)`` resized to ``round(out * max / min)``, then one
  crop per scale cut at its centre ``(1 + side) / 2``;
* the network read straight from the ``.mat`` (``br1_*`` chain in float64,
  ``src/util/corr_filter.m`` with ``numpy.fft``, ``src/util/CropMargin.m``,
  ``src/util/cross_corr.m`` as a plain correlation);
* ``src/tracking/tracker.m`` / ``tracker_step.m``: ``imresize(r,
  responseUp, 'bicubic')``, penalty on the non-central scales, the
  *unpenalised* best map normalised, ``hann`` window blend, first maximum in
  column-major order (``find(.., 1)``), displacement ``(p - (U + 1) / 2) *
  totalStride / responseUp * s_x / instanceSize``, then the ``s_x`` /
  ``s_z`` / size updates and the ``zLR`` blend of the cropped filter.
"""

import math

import cv2
import numpy as np
import pytest
import scipy.io
import torch
import torch.nn.functional as F

from siamtrack.boxes import read_boxes
from siamtrack.tracker.factory import create_tracker

pytestmark = pytest.mark.usefixtures("one_thread")  # conftest.py

PRESET = {  # run_cfnet2_evaluation.m / run_cfnet1_evaluation.m
    "cfnet-conv2": dict(file="cfnet-conv2_e80.mat", step=1.0575, penalty=0.9780, lr=0.52, wi=0.2625, zlr=0.005),
    "cfnet-conv1": dict(file="cfnet-conv1_e75.mat", step=1.0355, penalty=0.9825, lr=0.7, wi=0.2375, zlr=0.0058),
}


# ----------------------------------------------------------------------------- MATLAB helpers


def _mround(v):
    """MATLAB ``round`` (halves away from zero)."""
    return np.sign(v) * np.floor(np.abs(v) + 0.5)


def _kernel(x):
    a = np.abs(x)
    return (1.5 * a**3 - 2.5 * a**2 + 1) * (a <= 1) + (-0.5 * a**3 + 2.5 * a**2 - 4 * a + 2) * ((a > 1) & (a <= 2))


def _resize_axis(arr, axis, out_len, scale):
    """One axis of MATLAB ``imresize`` (bicubic, antialiasing on): ``contributions`` then a weighted sum."""
    n = arr.shape[axis]
    width = 4.0 / scale if scale < 1 else 4.0
    kern = (lambda d: scale * _kernel(scale * d)) if scale < 1 else _kernel
    x = np.arange(1, out_len + 1, dtype=np.float64)[:, None]
    u = x / scale + 0.5 * (1 - 1 / scale)
    taps = np.floor(u - width / 2) + np.arange(int(math.ceil(width)) + 2)[None, :]
    w = kern(u - taps)
    w /= w.sum(1, keepdims=True)
    mirror = np.concatenate([np.arange(n), np.arange(n)[::-1]])  # 0-based [1..n, n..1]
    src = mirror[np.mod(taps.astype(int) - 1, 2 * n)]
    moved = np.moveaxis(arr.astype(np.float64), axis, 0)
    out = np.einsum("ot,ot...->o...", w, moved[src])
    return np.moveaxis(out, 0, axis).astype(np.float32)


def _imresize(img, scale=None, size=None):
    """``imresize(img, scale)`` (output ``ceil(scale * n)``) or ``imresize(img, [size size])``."""
    if size is None:
        out = int(math.ceil(scale * img.shape[0]))
        rows = _resize_axis(img, 0, out, scale)
        return _resize_axis(rows, 1, int(math.ceil(scale * img.shape[1])), scale)
    rows = _resize_axis(img, 0, size, size / img.shape[0])
    return _resize_axis(rows, 1, size, size / img.shape[1])


def _subwindow(img, pos, model_sz, original_sz, avg):
    """get_subwindow_tracking.m; ``img`` (H, W, 3) float32 RGB, ``pos`` 1-based ``[y, x]``."""
    c = (original_sz + 1) / 2
    x0, y0 = int(_mround(pos[1] - c)), int(_mround(pos[0] - c))
    x1, y1 = x0 + original_sz - 1, y0 + original_sz - 1
    h, w = img.shape[:2]
    left, top = max(0, 1 - x0), max(0, 1 - y0)
    right, bottom = max(0, x1 - w), max(0, y1 - h)
    if left or top or right or bottom:
        img = np.stack([np.pad(img[:, :, k], ((top, bottom), (left, right)), constant_values=np.float32(avg[k]))
                        for k in range(3)], 2)
    patch = img[y0 + top - 1 : y1 + top, x0 + left - 1 : x1 + left]
    if model_sz == original_sz:
        return patch
    out = _imresize(patch, scale=model_sz / original_sz)
    return out if out.shape[0] == model_sz else _imresize(patch, size=model_sz)


def _pyramid(img, pos, sides, out_side, avg):
    """make_scale_pyramid.m -> (n, out, out, 3)."""
    sides = [int(s) for s in _mround(np.asarray(sides))]
    search = int(_mround(out_side * sides[-1] / sides[0]))
    region = _subwindow(img, pos, search, sides[-1], avg)
    centre = np.array([(1 + search) / 2] * 2)
    return np.stack([_subwindow(region, centre, out_side, int(_mround(out_side * s / sides[0])), avg) for s in sides])


class _Net:
    """The ``.mat`` DagNN evaluated directly (float64): ``br1_*`` chain, window, corr_filter.m, crop, xcorr."""

    def __init__(self, path):
        net = scipy.io.loadmat(path, squeeze_me=True, struct_as_record=False)["net"]
        par = {str(p.name): np.asarray(p.value, dtype=np.float64) for p in net.params}
        t = lambda a: torch.from_numpy(np.ascontiguousarray(a, dtype=np.float64))  # noqa: E731
        self.ops = []
        for layer in net.layers:
            name, kind, blk = str(layer.name), str(layer.type), layer.block
            if not name.startswith("br1_"):
                continue
            if kind == "dagnn.Conv":
                stride = int(np.atleast_1d(blk.stride)[0])
                self.ops.append(("conv", t(par[layer.params[0]].transpose(3, 2, 0, 1)), t(par[layer.params[1]]),
                                 stride))
            elif kind == "dagnn.BatchNorm":
                mom = par[layer.params[2]]
                self.ops.append(("bn", t(par[layer.params[0]]), t(par[layer.params[1]]), t(mom[:, 0]), t(mom[:, 1])))
            elif kind == "dagnn.ReLU":
                self.ops.append(("relu",))
            elif kind == "dagnn.Pooling":
                self.ops.append(("pool", int(np.atleast_1d(blk.poolSize)[0]), int(np.atleast_1d(blk.stride)[0])))
        layers = {str(layer.name): layer for layer in net.layers}
        self.window, self.target = par["join_window"], par["join_cf_target"]
        self.lam = float(getattr(layers["join_cf"].block, "lambda"))
        self.margin = int(layers["join_crop_z"].block.margin)

    def features(self, crops):
        x = torch.from_numpy(np.ascontiguousarray(crops.transpose(0, 3, 1, 2), dtype=np.float64))
        for op in self.ops:
            if op[0] == "conv":
                x = F.conv2d(x, op[1], op[2], stride=op[3], groups=x.shape[1] // op[1].shape[1])
            elif op[0] == "bn":
                x = (x - op[3].view(1, -1, 1, 1)) / op[4].view(1, -1, 1, 1) * op[1].view(1, -1, 1, 1) \
                    + op[2].view(1, -1, 1, 1)
            elif op[0] == "relu":
                x = x.clamp_min(0)
            else:
                x = F.max_pool2d(x, op[1], op[2])
        return x

    def template(self, z):
        x = self.features(z[None])[0].numpy() * self.window
        n = x.shape[1] * x.shape[2]
        xf, yf = np.fft.fft2(x), np.fft.fft2(self.target)
        af = yf / ((np.abs(xf) ** 2).sum(0) / n + self.lam) / n
        w = np.fft.ifft2(np.conj(af)[None] * xf).real
        m = self.margin
        return w[:, m:-m, m:-m]

    def responses(self, tmpl, crops):
        return F.conv2d(self.features(crops), torch.from_numpy(tmpl)[None])[:, 0].numpy().astype(np.float32)


def _reference_track(frames, init, net, p):
    """tracker.m (corrfilt) + tracker_step.m on BGR frames; ``init`` 0-based ``[x, y, w, h]``; 0-based boxes."""
    rgb = lambda f: f[:, :, ::-1].astype(np.float32)  # noqa: E731 - imread / vl_imreadjpeg give RGB
    img = rgb(frames[0])
    x, y, w, h = init
    pos = np.array([y + 1 + h / 2, x + 1 + w / 2])  # 1-based, as get_axis_aligned_BB
    size = np.array([h, w], dtype=np.float64)
    avg = [img[:, :, k].mean(0).mean() for k in range(3)]
    s_z = math.sqrt((size[1] + 0.5 * size.sum()) * (size[0] + 0.5 * size.sum()))
    s_x = s_z  # instanceSize / exemplarSize = 255 / 255
    bounds_x, bounds_z = (0.2 * s_x, 5 * s_x), (0.2 * s_z, 5 * s_z)
    scales = p["step"] ** np.arange(-1, 2)
    tmpl = net.template(_pyramid(img, pos, s_z * scales, 255, avg)[1])
    up = 33 * 8
    hann = np.hanning(up).astype(np.float32)
    window = np.outer(hann, hann)
    window /= window.sum()
    boxes = [np.array([pos[1] - 1 - size[1] / 2, pos[0] - 1 - size[0] / 2, size[1], size[0]])]
    for frame in frames[1:]:
        img = rgb(frame)
        inst = s_x * scales
        maps = net.responses(tmpl, _pyramid(img, pos, inst, 255, avg))
        maps = [_imresize(m, scale=8.0) for m in maps]
        best, best_peak = 1, -np.inf
        for s, m in enumerate(maps):
            peak = (m * (p["penalty"] if s != 1 else 1)).max()
            if peak > best_peak:
                best, best_peak = s, peak
        r = maps[best] - maps[best].min()
        r = (1 - p["wi"]) * (r / r.sum()) + p["wi"] * window
        col, row = np.unravel_index(np.argmax(r.T), r.T.shape)  # find(r == max(r(:)), 1): column-major
        pos = pos + (np.array([row + 1, col + 1]) - (up + 1) / 2) * 4 / 8 * s_x / 255
        s_x = max(bounds_x[0], min(bounds_x[1], (1 - p["lr"]) * s_x + p["lr"] * inst[best]))
        ex = s_z * scales
        tmpl = (1 - p["zlr"]) * tmpl + p["zlr"] * net.template(_pyramid(img, pos, ex, 255, avg)[1])
        s_z = max(bounds_z[0], min(bounds_z[1], (1 - p["lr"]) * s_z + p["lr"] * ex[best]))
        size = (1 - p["lr"]) * size + p["lr"] * size * scales[best]
        boxes.append(np.array([pos[1] - 1 - size[1] / 2, pos[0] - 1 - size[0] / 2, size[1], size[0]]))
    return np.array(boxes)


# ----------------------------------------------------------------------------- tests


def _sequence(shared_dir, name, count):
    root = shared_dir / "data" / "otb" / name
    frames = [cv2.imread(str(root / "img" / f"{i:04d}.jpg")) for i in range(1, count + 1)]
    gt = read_boxes(root / "groundtruth_rect.txt")[:count]
    gt[:, :2] -= 1
    return frames, gt


@pytest.mark.parametrize("box", [None, (2.0, 3.0, 30.0, 40.0), (290.5, 180.25, 27.0, 55.5)],
                         ids=["couple-gt", "top-left-padding", "bottom-right-padding"])
def test_exemplar_crop_is_the_reference_crop(shared_dir, box):
    """The first exemplar crop (scale pyramid, middle scale) equals make_scale_pyramid.m /
    get_subwindow_tracking.m, including the mean-colour padding outside the frame."""
    frames, gt = _sequence(shared_dir, "Couple", 1)
    x, y, w, h = gt[0] if box is None else box
    tracker = create_tracker("cfnet-conv2", weights=shared_dir / "weights" / "cfnet" / PRESET["cfnet-conv2"]["file"])
    tracker.init(frames[0], (x, y, w, h))
    ours = tracker._exemplar(tracker._upload(frames[0]))[0].permute(1, 2, 0).cpu().numpy()
    img = frames[0][:, :, ::-1].astype(np.float32)
    avg = [img[:, :, k].mean(0).mean() for k in range(3)]
    pos = np.array([y + 1 + h / 2, x + 1 + w / 2])
    s_z = math.sqrt((w + (w + h) / 2) * (h + (w + h) / 2))
    ref = _pyramid(img, pos, s_z * PRESET["cfnet-conv2"]["step"] ** np.arange(-1, 2), 255, avg)[1]
    np.testing.assert_allclose(ours, ref, atol=1e-3)


@pytest.mark.parametrize("model,seq,count", [("cfnet-conv2", "Couple", 12), ("cfnet-conv1", "Crossing", 8)])
def test_tracker_follows_the_reference_frame_by_frame(shared_dir, model, seq, count):
    """Boxes of siamtrack's CFNet tracker = boxes of the literal transliteration, frame by frame."""
    p = PRESET[model]
    path = shared_dir / "weights" / "cfnet" / p["file"]
    frames, gt = _sequence(shared_dir, seq, count)
    tracker = create_tracker(model, weights=path)
    tracker.init(frames[0], gt[0])
    ours = np.array([gt[0]] + [tracker.update(f).box for f in frames[1:]])
    ref = _reference_track(frames, gt[0], _Net(path), p)
    np.testing.assert_allclose(ours, ref, atol=1e-2)
