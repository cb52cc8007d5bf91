"""The inference fast paths of siamtrack.models.fastops against torch's own operators, on small random maps.

Each fused module must equal ``conv2d`` / ``linear`` + the activation it
replaced (up to float32 summation order), on its C path (channels-last,
batch 1, CPU) and on its fallback (any other layout), with one and two
OpenMP threads (the C loops split rows between threads: same numbers).
"""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from siamtrack.models import fastops
from siamtrack.models.backbones.mobilenetv3 import SqueezeExcite
from siamtrack.models.fastops import (ConvAct, DepthwiseConv, FastSequential, GateAct, PointwiseAct,
                                      fuse_activations, kernels_available)
from siamtrack.models.fuse import PointwiseLinear, fold_batchnorm, pointwise_as_linear
from siamtrack.models.heads.nanotrack_ban import ChannelAttention

ACTS = {None: lambda y: y, "relu": F.relu, "relu6": lambda y: F.hardtanh(y, 0.0, 6.0), "hardswish": F.hardswish}

needs_kernels = pytest.mark.skipif(not kernels_available(), reason="siamtrack.models._kernels was not built")


def cl(x):
    return x.contiguous(memory_format=torch.channels_last)


def close(a, b, tol=2e-5):
    scale = max(1.0, b.abs().max().item())
    assert (a - b).abs().max().item() <= tol * scale


@pytest.fixture
def threads():
    """Restore torch's thread count after a test that changes it."""
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def test_kernels_built():
    # setup.py builds the extension wherever a C compiler exists (CI has one): a silent fallback would hide a
    # broken build behind slower but passing tests.
    assert kernels_available(), "siamtrack.models._kernels missing: reinstall with `make install` (needs a C compiler)"


@needs_kernels
@pytest.mark.parametrize("c,h,w,k,s,p", [
    (32, 16, 16, 3, 1, 1), (96, 15, 17, 3, 1, 1), (40, 16, 16, 5, 1, 2), (72, 33, 32, 3, 2, 1),
    (96, 32, 31, 5, 2, 2), (100, 9, 9, 3, 1, 1), (64, 16, 16, 2, 1, 0), (48, 8, 8, 3, 1, 0),
    # multiples of 8 below 32 (MobileNetV3's 16-channel stage), maps narrower than one 4-pixel block, odd strides
    (16, 33, 34, 3, 2, 1), (8, 5, 3, 3, 1, 1), (24, 7, 7, 5, 1, 2), (40, 12, 13, 3, 3, 1), (16, 2, 2, 5, 1, 2),
])
@pytest.mark.parametrize("act", [None, "relu", "relu6", "hardswish"])
def test_depthwise_matches_conv2d(c, h, w, k, s, p, act, threads):
    torch.manual_seed(c + h + k)
    conv = nn.Conv2d(c, c, k, s, p, groups=c, bias=True)
    x = torch.randn(1, c, h, w) * 4
    with torch.inference_mode():
        ref = ACTS[act](F.conv2d(x, conv.weight, conv.bias, s, p, 1, c))
        mod = DepthwiseConv(conv, act)
        assert mod.use_kernel
        torch.set_num_threads(1)
        one = mod(cl(x))
        torch.set_num_threads(2)
        two = mod(cl(x))
        slow = mod(x)  # NCHW: the conv2d fallback
    assert one.shape == ref.shape and one.is_contiguous(memory_format=torch.channels_last)
    close(one, ref)
    close(slow, ref)
    assert torch.equal(one, two)


def test_depthwise_few_odd_channels_stay_with_onednn():
    # 20 channels: not a multiple of the kernel's 8-float vectors and below MIN_KERNEL_CHANNELS.
    conv = nn.Conv2d(20, 20, 3, 2, 1, groups=20)
    mod = DepthwiseConv(conv, "relu")
    assert not mod.use_kernel
    x = cl(torch.randn(1, 20, 20, 20))
    with torch.inference_mode():
        close(mod(x), F.relu(conv(x)))


def test_depthwise_rejects_unknown_activation():
    with pytest.raises(ValueError, match="unknown activation"):
        DepthwiseConv(nn.Conv2d(32, 32, 3, groups=32), "gelu")


@needs_kernels
@pytest.mark.parametrize("act", [None, "relu", "relu6", "hardswish"])
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("cin,cout,h,w", [
    (40, 72, 13, 11),  # the C matrix product: 143 rows = 23 blocks of 6 + a 5-row tail, 72 = 4 x 16 + 8 columns
    (96, 16, 16, 16),  # 256 rows = 42 blocks + 4
    (7, 8, 1, 3),  # fewer rows than one block
    (48, 4, 5, 5),  # 4 outputs (NanoTrack's box head): mm + bias_act_nhwc
    (256, 256, 3, 5),  # weights beyond MAX_POINTWISE_WEIGHTS (ResNet-50's): mm + bias_act_nhwc
])
def test_pointwise_act_matches_linear(act, bias, cin, cout, h, w, threads):
    torch.manual_seed(3)
    conv = nn.Conv2d(cin, cout, 1, bias=bias)
    x = torch.randn(1, cin, h, w) * 3
    with torch.inference_mode():
        ref = ACTS[act](conv(x))
        mod = PointwiseAct(PointwiseLinear(conv), act)
        outs = []
        for n in (1, 2):
            torch.set_num_threads(n)
            outs.append(mod(cl(x)))
            close(outs[-1], ref)
        close(mod(x), ref)
    assert outs[0].is_contiguous(memory_format=torch.channels_last)
    assert torch.equal(outs[0], outs[1])


@needs_kernels
@pytest.mark.parametrize("cout", [64, 6])
def test_pointwise_map_matches_conv2d(cout):
    torch.manual_seed(cout)
    weight, bias = torch.randn(cout, 48), torch.randn(cout)
    x = torch.randn(1, 48, 16, 16)
    ref = F.conv2d(x, weight[:, :, None, None], bias)
    pw = fastops.PointwiseMap(weight, bias)
    with torch.inference_mode():
        fast = pw(cl(x))
        close(fast, ref)
        close(pw(x), ref)
    assert fast.is_contiguous(memory_format=torch.channels_last)


@needs_kernels
@pytest.mark.parametrize("gate_cls,channels", [(SqueezeExcite, 96), (ChannelAttention, 64)])
@pytest.mark.parametrize("act", [None, "hardswish"])
def test_gate_in_place_matches_reference(gate_cls, channels, act):
    torch.manual_seed(channels)
    gate = gate_cls(channels).eval()
    x = torch.randn(1, channels, 16, 16) * 2
    with torch.inference_mode():
        ref = ACTS[act](gate(x))
        mod = GateAct(gate, act)
        fast_in = cl(x.clone())
        out = mod(fast_in)
        assert out.data_ptr() == fast_in.data_ptr()  # in place on the C path
        close(out, ref)
        close(mod(x.clone()), ref)


@needs_kernels
@pytest.mark.parametrize("cin,cout,h,w,k,s,p,c_kernel", [
    (3, 16, 31, 31, 3, 2, 1, True),  # MobileNetV3's stem: the C kernel (conv_nhwc)
    (1, 8, 9, 6, 3, 1, 1, True),  # 8 outputs: one 8-wide block; a map narrower than two 4-pixel blocks
    (3, 16, 2, 3, 3, 2, 1, True),  # every pixel a border pixel
    (3, 12, 31, 31, 3, 2, 1, False),  # outputs not a multiple of 8: oneDNN
    (3, 32, 31, 31, 3, 2, 1, False),  # wider outputs (MobileNetV2's stem): oneDNN
    (3, 16, 31, 31, 7, 2, 3, False),  # larger kernels (ResNet's, AlexNet's): oneDNN
    (8, 16, 20, 20, 3, 1, 1, False),  # deep input: oneDNN
])
@pytest.mark.parametrize("act", ["relu", "hardswish"])
def test_conv_act_matches_conv2d(cin, cout, h, w, k, s, p, c_kernel, act, threads):
    torch.manual_seed(cin + cout + k)
    conv = nn.Conv2d(cin, cout, k, s, p)
    x = torch.rand(1, cin, h, w) * 255
    with torch.inference_mode():
        ref = ACTS[act](conv(x))
        mod = ConvAct(cl_conv(conv), act)
        assert mod.use_kernel == c_kernel
        torch.set_num_threads(1)
        one = mod(cl(x))
        torch.set_num_threads(2)
        two = mod(cl(x))
        close(one, ref, tol=1e-4)
        close(mod(x), ref, tol=1e-4)
    assert one.is_contiguous(memory_format=torch.channels_last)
    assert torch.equal(one, two)


def cl_conv(conv):
    return conv.to(memory_format=torch.channels_last)


def _tower():
    """A NanoTrack-style separable tower plus a squeeze-excite block, BatchNorm included."""
    torch.manual_seed(7)
    layers = []
    for cin, cout in [(64, 96), (96, 96), (96, 96)]:
        layers += [nn.Conv2d(cin, cin, 3, 1, 1, groups=cin, bias=False), nn.Conv2d(cin, cout, 1, bias=False),
                   nn.BatchNorm2d(cout), nn.ReLU6(inplace=True)]
    layers += [nn.Conv2d(96, 96, 5, 1, 2, groups=96, bias=False), nn.BatchNorm2d(96), SqueezeExcite(96),
               nn.Hardswish(), nn.Conv2d(96, 48, 1, bias=False), nn.BatchNorm2d(48)]
    seq = nn.Sequential(*layers)
    for m in seq.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-1, 1)
            m.running_var.uniform_(0.5, 2)
            m.weight.data.uniform_(0.5, 1.5)
    return nn.Sequential(seq).eval()


def prepare(model):
    """What SiameseModel.prepare_inference does to a module tree: fold BN, 1x1 as matmul, fuse, channels-last."""
    fold_batchnorm(model)
    pointwise_as_linear(model)
    fuse_activations(model)
    return model.to(memory_format=torch.channels_last)


@needs_kernels
def test_fuse_activations_builds_a_planned_fast_sequential(threads):
    model = _tower()
    x = torch.randn(1, 64, 16, 16)
    with torch.inference_mode():
        ref = model(x)
        prepare(model)
        fast = model[0]
        assert isinstance(fast, FastSequential)
        kinds = [type(m).__name__ for m in fast]
        assert kinds == ["DepthwiseConv", "PointwiseAct"] * 3 + ["DepthwiseConv", "GateAct", "PointwiseAct"]
        assert not any(isinstance(m, (nn.Identity, nn.ReLU6, nn.Hardswish)) for m in fast.modules())
        first = fast(cl(x))
        assert len(fast._plans) == 1 and next(iter(fast._plans.values())) is not None
        keep = first.clone()
        second = fast(cl(x * 0.5))  # the plan's buffers are reused: the first result must not change
        torch.set_num_threads(2)
        third = fast(cl(x))
        slow = fast(x)  # NCHW: torch operators module by module
    close(first, ref, tol=1e-4)
    assert torch.equal(first, keep)
    assert first.data_ptr() != second.data_ptr()
    close(third, ref, tol=1e-4)
    close(slow, ref, tol=1e-4)


@needs_kernels
def test_plans_are_dropped_when_the_model_moves():
    model = _tower()
    with torch.inference_mode():
        prepare(model)
        model(cl(torch.randn(1, 64, 8, 8)))
        assert model[0]._plans
        model.float()
        assert not model[0]._plans


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_fused_modules_on_cuda_use_torch_operators():
    model = _tower()
    x = torch.randn(1, 64, 16, 16)
    with torch.inference_mode():
        ref = model(x)
        prepare(model).to("cuda")
        out = model(cl(x.cuda())).cpu()
    close(out, ref, tol=1e-4)


def test_fallback_without_the_extension(monkeypatch):
    # Installs without a C compiler: every module still computes the same thing with torch operators.
    model = _tower()
    x = torch.randn(1, 64, 16, 16)
    monkeypatch.setattr(fastops, "_kernels", None)
    with torch.inference_mode():
        ref = model(x)
        prepare(model)
        close(model(cl(x)), ref, tol=1e-4)


@needs_kernels
def test_gate_mean_is_accurate_on_large_maps():
    # Regression: the C gate summed channels in float32; over MobileNetV3's 64x64 first gate that drifted by
    # ~1e-5 relative, which NanoTrack v1's head amplified past the parity tolerance. The gate below is made
    # sensitive to its channel means: g_c = hardsigmoid(m_c - m_c*) = 0.5 + (m_c - m_c*) / 6 around the exact
    # float64 means m_c*, so an error of e in a mean shows as e / 6 in the output factor.
    torch.manual_seed(11)
    c = 8
    x = torch.rand(1, c, 128, 128) * 100 + 100  # post-ReLU activations of raw 0..255 pixels are this large
    m_true = x.double().mean((2, 3))[0]
    gate = SqueezeExcite(c).eval()  # hidden = 8
    with torch.no_grad():
        gate.fc[0].weight.copy_(torch.eye(c))
        gate.fc[0].bias.zero_()
        gate.fc[2].weight.copy_(torch.eye(c))
        gate.fc[2].bias.copy_(-m_true.float())
    with torch.inference_mode():
        out = GateAct(gate, None)(cl(x.clone()))
        factor = (out.double() / x.double()).mean((2, 3))[0]
    expected = 0.5 + (m_true + gate.fc[2].bias.double()) / 6  # the float32 bias's own rounding included
    assert (factor - expected).abs().max().item() < 2e-5


@needs_kernels
def test_residual_is_added_in_the_last_pass():
    # MobileNetV3's stride-1 blocks add their input to the chain's output; the plan fuses that addition into
    # the last 1x1 convolution's bias pass.
    torch.manual_seed(13)
    seq = nn.Sequential(nn.Conv2d(40, 120, 1), nn.Hardswish(), nn.Conv2d(120, 120, 5, 1, 2, groups=120),
                        nn.ReLU(), nn.Conv2d(120, 40, 1)).eval()
    x = torch.randn(1, 40, 16, 16)
    with torch.inference_mode():
        ref = x + seq(x)
        fast = prepare(nn.Sequential(seq))[0]
        assert isinstance(fast, FastSequential)
        planned = fast(cl(x), residual=cl(x))
        assert next(iter(fast._plans.values())) is not None
        slow = fast(x, residual=x)
    close(planned, ref)
    close(slow, ref)


@needs_kernels
def test_residual_after_a_chain_ending_in_a_depthwise_conv():
    # Only a 1x1 convolution's pass takes the residual; after any other last module the plan adds it afterwards.
    torch.manual_seed(17)
    seq = nn.Sequential(nn.Conv2d(40, 48, 1), nn.ReLU(), nn.Conv2d(48, 48, 3, 1, 1, groups=48)).eval()
    x, r = torch.randn(1, 40, 12, 12), torch.randn(1, 48, 12, 12)
    with torch.inference_mode():
        ref = r + seq(x)
        fast = prepare(nn.Sequential(seq))[0]
        planned = fast(cl(x), residual=cl(r))
        plan = next(iter(fast._plans.values()))
        assert plan is not None and not plan.fused
    close(planned, ref)
