"""The cross-correlation core against explicit loops / einsum, on CPU and (when present) CUDA."""

import pytest
import torch
import torch.nn.functional as F

from siamtrack.models.xcorr import xcorr_depthwise, xcorr_fast, xcorr_naive, xcorr_pixelwise

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
SHAPES = [  # (B, C, Hx, Wx, Hz, Wz): odd and even sizes, non-square
    (1, 4, 9, 9, 3, 3),
    (3, 5, 10, 12, 4, 5),
    (3, 8, 31, 31, 7, 7),
    (1, 3, 22, 17, 6, 7),
]


def _loop_xcorr(x, z, k):
    """Reference by explicit sums: out[b, j, u, v] = sum_{c,p,q} x[b, c, u+p, v+q] * z[b, j*C+c, p, q]."""
    b, c, hx, wx = x.shape
    hz, wz = z.shape[2:]
    out = torch.zeros(b, k, hx - hz + 1, wx - wz + 1, dtype=torch.float64, device=x.device)
    xd, zd = x.double(), z.double().reshape(b, k, c, hz, wz)
    for p in range(hz):
        for q in range(wz):
            patch = xd[:, :, p : p + hx - hz + 1, q : q + wx - wz + 1]  # (B, C, Ho, Wo)
            out += torch.einsum("bchw,bkc->bkhw", patch, zd[:, :, :, p, q])
    return out


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("k", [1, 2])
def test_naive_and_fast_match_loop(device, shape, k):
    b, c, hx, wx, hz, wz = shape
    g = torch.Generator().manual_seed(hash((shape, k)) % 2**31)
    x = torch.randn(b, c, hx, wx, generator=g).to(device)
    z = torch.randn(b, k * c, hz, wz, generator=g).to(device)
    ref = _loop_xcorr(x, z, k)
    for fn in (xcorr_naive, xcorr_fast):
        out = fn(x, z)
        assert out.shape == (b, k, hx - hz + 1, wx - wz + 1)
        assert out.device.type == device
        torch.testing.assert_close(out.double(), ref, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("padding", [0, 1])
def test_depthwise_matches_loop(device, shape, padding):
    b, c, hx, wx, hz, wz = shape
    g = torch.Generator().manual_seed(7 + padding)
    x = torch.randn(b, c, hx, wx, generator=g).to(device)
    z = torch.randn(b, c, hz, wz, generator=g).to(device)
    xp = F.pad(x, (padding,) * 4)
    ref = torch.stack([_loop_xcorr(xp[:, i : i + 1], z[:, i : i + 1], 1)[:, 0] for i in range(c)], 1)
    out = xcorr_depthwise(x, z, padding=padding)
    assert out.shape == (b, c, hx - hz + 1 + 2 * padding, wx - wz + 1 + 2 * padding)
    torch.testing.assert_close(out.double(), ref, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("shape", SHAPES)
def test_pixelwise_matches_einsum(device, shape):
    b, c, hx, wx, hz, wz = shape
    g = torch.Generator().manual_seed(11)
    x = torch.randn(b, c, hx, wx, generator=g).to(device)
    z = torch.randn(b, c, hz, wz, generator=g).to(device)
    ref = torch.einsum("bcij,bcuv->bijuv", z.double(), x.double()).reshape(b, hz * wz, hx, wx)
    out = xcorr_pixelwise(x, z)
    assert out.shape == (b, hz * wz, hx, wx)
    torch.testing.assert_close(out.double(), ref, rtol=1e-4, atol=1e-4)


def test_samples_do_not_mix():
    """Sample b of x is correlated only with sample b of z: zeroing one template zeroes only its output."""
    x = torch.randn(3, 4, 12, 12)
    z = torch.randn(3, 4, 5, 5)
    z[1] = 0
    for out in (xcorr_fast(x, z), xcorr_naive(x, z), xcorr_depthwise(x, z), xcorr_pixelwise(x, z)):
        assert torch.count_nonzero(out[1]) == 0
        assert torch.count_nonzero(out[0]) > 0 and torch.count_nonzero(out[2]) > 0


@pytest.mark.parametrize("fn", [xcorr_naive, xcorr_fast, xcorr_depthwise, xcorr_pixelwise])
def test_bad_shapes_raise(fn):
    with pytest.raises(ValueError):
        fn(torch.randn(2, 4, 9, 9), torch.randn(3, 4, 3, 3))  # batch mismatch
    with pytest.raises(ValueError):
        fn(torch.randn(4, 9, 9), torch.randn(4, 3, 3))  # not 4-D
    with pytest.raises(ValueError):
        fn(torch.randn(1, 4, 9, 9), torch.randn(1, 3, 3, 3))  # channels
