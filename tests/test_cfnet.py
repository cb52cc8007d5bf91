"""CFNet: the MatConvNet networks of ../shared/weights/cfnet, the closed-form correlation filter, the MATLAB
resampling, tracking on real sequences and the failure paths.

Unit tests: :func:`corr_filter` against the direct ridge regression over all
circular shifts (no FFT); :func:`xcorr_fft` against :func:`xcorr_naive`;
:func:`imresize_matrix` against torch's antialiased bicubic (same Keys
``a = -0.5`` kernel) on symmetrically padded signals (MATLAB's border rule).
Networks: the DagNN graph read from the real files. Tracking: CFNet-conv2
follows the pedestrian of ``otb/Crossing`` with its colour network, and the
same frames made gray with its ``_gray`` network. Failure paths: files that
are not MAT files / not DagNNs / not CFNets / the network of another preset,
a grayscale sequence without the ``_gray`` network, and the CLI.
"""

import shutil

import cv2
import numpy as np
import pytest
import scipy.io
import torch
import torch.nn.functional as F
from click.testing import CliRunner

from siamtrack.boxes import iou_xywh, read_boxes
from siamtrack.cli import main
from siamtrack.errors import SiamtrackError
from siamtrack.models.cfnet import CFNetPair, build_cfnet, corr_filter, read_dagnn
from siamtrack.models.presets import get_preset
from siamtrack.models.xcorr import xcorr_fft, xcorr_naive
from siamtrack.tracker.factory import create_tracker, load_weights
from siamtrack.tracker.pyramid import imresize_matrix, round_half_away

CONV2, CONV2_GRAY = "cfnet-conv2_e80.mat", "cfnet-conv2_gray_e40.mat"
CONV1 = "cfnet-conv1_e75.mat"
CROSSING_FRAMES = 30


pytestmark = pytest.mark.usefixtures("one_thread")  # conftest.py


@pytest.fixture(scope="module")
def cfnet_dir(shared_dir):
    return shared_dir / "weights" / "cfnet"


@pytest.fixture()
def no_weights_dirs(tmp_path, monkeypatch):
    """No $SIAMTRACK_WEIGHTS and an empty cache: only the files a test names are found."""
    monkeypatch.delenv("SIAMTRACK_WEIGHTS", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))


# ----------------------------------------------------------------------------- unit tests


def test_corr_filter_is_the_ridge_regression_over_circular_shifts():
    """``w = X^T (X X^T + n lam I)^-1 y``: row ``t`` of ``X`` = every channel of ``x`` circularly shifted by ``t``
    (``X[t, (c, u)] = x_c[u + t]``), i.e. ``n (k * a) = y`` and ``w_c = a (corr) x_c`` of corr_filter.m."""
    g = torch.Generator().manual_seed(0)
    b, c, h, w = 2, 3, 4, 5
    x = torch.randn(b, c, h, w, generator=g, dtype=torch.float64)
    y = torch.randn(h, w, generator=g, dtype=torch.float64)
    lam, n = 0.3, h * w
    got = corr_filter(x, y, lam)
    for i in range(b):
        rows = []
        for ty in range(h):
            for tx in range(w):
                shifted = torch.roll(x[i], shifts=(-ty, -tx), dims=(1, 2))  # shifted[c, u] = x[c, u + t]
                rows.append(shifted.reshape(-1))
        big_x = torch.stack(rows)  # (n, c*n)
        alpha = torch.linalg.solve(big_x @ big_x.T + n * lam * torch.eye(n, dtype=torch.float64), y.reshape(-1))
        want = (big_x.T @ alpha).reshape(c, h, w)
        torch.testing.assert_close(got[i], want, rtol=1e-10, atol=1e-10)
    assert corr_filter(x.float(), y, lam).dtype == torch.float32
    with pytest.raises(ValueError, match="target"):
        corr_filter(x, y[:3], lam)


def test_xcorr_fft_equals_xcorr_naive():
    g = torch.Generator().manual_seed(1)
    x = torch.randn(3, 4, 13, 11, generator=g, dtype=torch.float64)
    z = torch.randn(1, 4, 6, 5, generator=g, dtype=torch.float64)
    torch.testing.assert_close(xcorr_fft(x, z), xcorr_naive(x, z.expand(3, -1, -1, -1)), rtol=1e-10, atol=1e-10)
    zb = torch.randn(3, 4, 6, 5, generator=g, dtype=torch.float64)
    torch.testing.assert_close(xcorr_fft(x, zb), xcorr_naive(x, zb), rtol=1e-10, atol=1e-10)
    with pytest.raises(ValueError):
        xcorr_fft(x, torch.randn(2, 4, 6, 5))
    with pytest.raises(ValueError):
        xcorr_fft(x, torch.randn(1, 4, 14, 5))


@pytest.mark.parametrize("n_in, n_out, pad", [(40, 20, 8), (48, 36, 8), (33, 264, 3), (9, 27, 3)])
def test_imresize_matrix_is_matlab_bicubic(n_in, n_out, pad):
    """MATLAB imresize = Keys a=-0.5 (antialiased when shrinking) on the signal mirrored at its ends
    (``[1..n, n..1]``): torch's antialiased bicubic (same kernels) on the symmetrically padded signal, cut back."""
    scale = n_out / n_in
    assert (pad * scale) == int(pad * scale)
    g = torch.Generator().manual_seed(2)
    v = torch.rand(5, n_in, generator=g, dtype=torch.float64)
    m = imresize_matrix(n_in, n_out, dtype=torch.float64)
    got = v @ m.T
    padded = torch.from_numpy(np.pad(v.numpy(), ((0, 0), (pad, pad)), mode="symmetric"))
    ref = F.interpolate(padded[:, None, None, :], size=(1, round((n_in + 2 * pad) * scale)), mode="bicubic",
                        antialias=True, align_corners=False)[:, 0, 0]
    off = int(pad * scale)
    torch.testing.assert_close(got, ref[:, off : off + n_out], rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(m.sum(1), torch.ones(n_out, dtype=torch.float64))
    torch.testing.assert_close(imresize_matrix(7, 7, dtype=torch.float64), torch.eye(7, dtype=torch.float64))


def test_round_half_away():
    assert [round_half_away(v) for v in (0.5, 1.5, 2.5, -0.5, -1.5, 2.4999)] == [1, 2, 3, -1, -2, 2]
    np.testing.assert_array_equal(round_half_away(np.array([0.5, 2.5, -2.5])), [1, 3, -3])


# ----------------------------------------------------------------------------- the real networks


@pytest.mark.parametrize("name, convs, filt, channels", [(CONV1, 1, 30, 32), (CONV2, 2, 25, 32),
                                                         (CONV2_GRAY, 2, 25, 32)])
def test_dagnn_networks(cfnet_dir, name, convs, filt, channels):
    dag = read_dagnn(cfnet_dir / name)
    types = {layer["type"] for layer in dag["layers"]}
    assert {"CorrFilter", "CropMargin", "XCorr", "MulConst", "dagnn.Conv", "dagnn.BatchNorm"} <= types
    net = build_cfnet(dag, cfnet_dir / name, expect_convs=convs)
    assert (net.convs, net.margin, net.lam) == (convs, 16, 10.0)
    assert net.adjust_scale > 1 and net.adjust_bias < 0  # fin_adjust: logits from correlations
    z = torch.full((1, 3, 255, 255), 128.0)
    z[:, :, 96:160, 110:146] = torch.tensor([200.0, 40.0, 60.0])[:, None, None]
    with torch.inference_mode():
        template = net.template(z)
        assert tuple(template.shape) == (1, channels, filt, filt)
        response = net.track(template, torch.cat([z, z.flip(3), z.flip(2)]))
        assert tuple(response.shape) == (3, 1, 33, 33)
        # the exemplar itself: the correlation peaks at the centre (the CF target's peak, shifted by the crop)
        assert np.unravel_index(int(response[0, 0].argmax()), (33, 33)) == (16, 16)
        before = net(z, z)
        net.prepare_inference()  # BN folded, channels-last: same numbers
        torch.testing.assert_close(net(z, z), before, rtol=1e-4, atol=1e-4 * float(before.abs().max()))


def test_wrong_files_are_refused(cfnet_dir, tmp_path):
    preset = get_preset("cfnet-conv2")
    with pytest.raises(SiamtrackError, match=r"cfnet-conv1_e75\.mat: not a network of model 'cfnet-conv2'.*1 conv"):
        load_weights(preset, cfnet_dir / CONV1, companions=False)
    text = tmp_path / "notes.mat"
    text.write_text("not a mat file\n")
    with pytest.raises(SiamtrackError, match=r"notes\.mat: not a readable MATLAB \.mat file"):
        load_weights(preset, text)
    other = tmp_path / "other.mat"
    scipy.io.savemat(other, {"weights": np.ones(3)})
    with pytest.raises(SiamtrackError, match=r"other\.mat: no 'net' variable"):
        load_weights(preset, other)
    scipy.io.savemat(other, {"net": {"vars": np.ones(2)}})
    with pytest.raises(SiamtrackError, match=r"other\.mat: 'net' has no layers / params"):
        load_weights(preset, other)
    with pytest.raises(SiamtrackError, match=r"missing\.mat: no such file or folder"):
        load_weights(preset, tmp_path / "missing.mat")
    pth = tmp_path / "model.pth"
    torch.save({"a": torch.zeros(1)}, pth)
    with pytest.raises(SiamtrackError, match=r"model\.pth: not a readable MATLAB \.mat file"):
        create_tracker("cfnet-conv2", weights=pth)
    dag = read_dagnn(cfnet_dir / CONV2)
    no_cf = dict(dag, layers=[layer for layer in dag["layers"] if layer["type"] != "CorrFilter"])
    with pytest.raises(SiamtrackError, match=r"net\.mat: 0 CorrFilter layers: not a CFNet network"):
        build_cfnet(no_cf, "net.mat")
    bad = dict(dag, params={k: v for k, v in dag["params"].items() if k != "br_conv2f"})
    with pytest.raises(SiamtrackError, match=r"net\.mat: unsupported or malformed CFNet DagNN.*br_conv2f"):
        build_cfnet(bad, "net.mat")


# ----------------------------------------------------------------------------- tracking


def _crossing(shared_dir):
    root = shared_dir / "data" / "otb" / "Crossing"
    frames = [cv2.imread(str(root / "img" / f"{i:04d}.jpg")) for i in range(1, CROSSING_FRAMES + 1)]
    gt = read_boxes(root / "groundtruth_rect.txt")[:CROSSING_FRAMES]
    gt[:, :2] -= 1  # OTB boxes are 1-based
    return frames, gt


def _track(tracker, frames, init):
    tracker.init(frames[0], init)
    return np.array([init] + [tracker.update(f).box for f in frames[1:]])


@pytest.fixture(scope="module")
def conv2_tracker(cfnet_dir):
    return create_tracker("cfnet-conv2", weights=cfnet_dir / CONV2)


def test_conv2_follows_the_target_colour_and_gray(shared_dir, conv2_tracker):
    """The colour network on the colour frames, the ``_gray`` one (found beside the given file) on the same
    frames made gray; both follow the pedestrian of Crossing (30 frames)."""
    frames, gt = _crossing(shared_dir)
    assert isinstance(conv2_tracker.model, CFNetPair) and conv2_tracker.model.gray is not None
    boxes = _track(conv2_tracker, frames, gt[0])
    assert conv2_tracker.net is conv2_tracker.model.color
    iou = iou_xywh(boxes, gt)
    assert iou.mean() > 0.65 and iou.min() > 0.4, iou
    gray = [cv2.cvtColor(cv2.cvtColor(f, cv2.COLOR_BGR2GRAY), cv2.COLOR_GRAY2BGR) for f in frames]
    boxes_gray = _track(conv2_tracker, gray, gt[0])
    assert conv2_tracker.net is conv2_tracker.model.gray
    iou_gray = iou_xywh(boxes_gray, gt)
    assert iou_gray.mean() > 0.65 and iou_gray.min() > 0.4, iou_gray
    assert not np.allclose(boxes_gray, boxes)  # another network


def test_tracker_state_and_scale(shared_dir, conv2_tracker):
    """One step by hand: the reference's state update (scale_lr blend of the chosen scale, window of s_x)."""
    frames, gt = _crossing(shared_dir)
    t = conv2_tracker
    t.init(frames[0], gt[0])
    x, y, w, h = gt[0]
    np.testing.assert_allclose(t.center_pos, [x + w / 2, y + h / 2])
    s_z = np.sqrt((w + (w + h) / 2) * (h + (w + h) / 2))
    assert t.s_z == pytest.approx(s_z) and t.s_x == pytest.approx(s_z)
    res = t.update(frames[1])
    f = t.scales[res.extra["scale_id"]]
    lr = t.cfg["scale_lr"]
    assert t.s_x == pytest.approx((1 - lr) * s_z + lr * s_z * f)
    np.testing.assert_allclose(t.size, np.array([w, h]) * ((1 - lr) + lr * f))
    np.testing.assert_allclose(res.box, [t.pos[1] - t.size[0] / 2, t.pos[0] - t.size[1] / 2, *t.size])
    assert res.score > 0 and not res.lost


def test_gray_sequence_needs_the_gray_network(shared_dir, cfnet_dir, tmp_path, no_weights_dirs):
    only_colour = tmp_path / "w"
    only_colour.mkdir()
    shutil.copy(cfnet_dir / CONV2, only_colour)
    tracker = create_tracker("cfnet-conv2", weights=only_colour / CONV2)
    frame = cv2.imread(str(shared_dir / "data/otb/Crossing/img/0001.jpg"))
    gray = cv2.cvtColor(cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY), cv2.COLOR_GRAY2BGR)
    with pytest.raises(SiamtrackError, match=r"'cfnet-conv2' needs its grayscale network.*cfnet-conv2_gray_e40\.mat "
                                             r"not found"):
        tracker.init(gray, [204, 150, 17, 50])
    tracker.init(frame, [204, 150, 17, 50])  # colour frames do not need it


def _cli(args, tmp_path):
    """The CLI in-process (click's runner): no display, the cache in ``tmp_path``, no $SIAMTRACK_WEIGHTS."""
    env = {"XDG_CACHE_HOME": str(tmp_path / "cache"), "SIAMTRACK_WEIGHTS": None, "DISPLAY": None,
           "WAYLAND_DISPLAY": None}
    return CliRunner().invoke(main, [str(a) for a in args], env=env)


def test_cli_import_run_and_errors(shared_dir, cfnet_dir, tmp_path):
    """``weights import`` of both .mat files (the gray one under its own name), then ``run --model cfnet-conv1``
    from the cache; a wrong .mat is one error line, exit 2, nothing installed."""
    cache = tmp_path / "cache" / "siamtrack" / "weights"
    bad = _cli(["weights", "import", cfnet_dir / CONV2, "--model", "cfnet-conv1"], tmp_path)
    assert bad.exit_code == 2 and bad.stdout == ""
    assert bad.stderr.strip().splitlines() == [
        f"siamtrack: error: {cfnet_dir / CONV2}: not a network of model 'cfnet-conv1': its feature branch has "
        f"2 conv layers, expected 1"]
    assert not cache.exists() or not any(cache.iterdir())
    for name in (CONV1, "cfnet-conv1_gray_e55.mat"):
        res = _cli(["weights", "import", cfnet_dir / name, "--model", "cfnet-conv1"], tmp_path)
        assert res.exit_code == 0, res.output
        assert (cache / name).read_bytes() == (cfnet_dir / name).read_bytes()
    frames = tmp_path / "frames"
    frames.mkdir()
    for i in range(1, 6):
        shutil.copy(shared_dir / "data" / "otb" / "Crossing" / "img" / f"{i:04d}.jpg", frames)
    boxes = tmp_path / "boxes.txt"
    res = _cli(["run", frames, "--model", "cfnet-conv1", "--init", "204,150,17,50", "--no-show", "--quiet",
                "--save-boxes", boxes], tmp_path)
    assert res.exit_code == 0, res.output
    got = read_boxes(boxes)
    gt = read_boxes(shared_dir / "data" / "otb" / "Crossing" / "groundtruth_rect.txt")[:5]
    gt[:, :2] -= 1
    assert got.shape == (5, 4) and iou_xywh(got, gt).min() > 0.5
    assert "5 frames" in res.stdout and "cfnet-conv1" in res.stdout
    assert f"weights: {cache / CONV1}" in _cli(["models"], tmp_path).stdout
