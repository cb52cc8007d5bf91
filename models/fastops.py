"""Inference fast paths for channels-last CPU maps: fused convolution + bias + activation (see :func:`fuse_activations`).

oneDNN pays a fixed ~50-60 us per depthwise convolution call on this
project's small maps (NanoTrack's 16x16 towers: ~0.2 M multiply-adds each),
several times the arithmetic; MKL's matrix products run these 1x1
convolutions on one thread; and every separate bias / activation op is one
more pass and one more dispatch. Built by
:meth:`~siamtrack.models.siamese.SiameseModel.prepare_inference`:

* :class:`DepthwiseConv`: depthwise convolution, its bias (the folded
  BatchNorm) and the activation after it in one pass of the C kernel
  ``siamtrack.models._kernels.depthwise_nhwc`` (``models/csrc/kernels.c``,
  built by ``setup.py``);
* :class:`GateAct`: a squeeze-excite gate and the activation after it, in place;
* :class:`PointwiseAct`: a 1x1 convolution as one matrix product over the
  channels-last view with bias + activation (+ a residual) in its epilogue
  (C kernel ``pointwise_nhwc``), :class:`PointwiseMap` the same for fixed
  weights made at init (NanoTrack's template-composed correlations);
* :class:`ConvAct`: a stem convolution (an image's 3 channels in) + activation
  as one call of the C kernel ``conv_nhwc``; any other convolution +
  activation as one oneDNN call (``mkldnn::_convolution_pointwise``, the fused
  op PyTorch's own CPU compiler emits).

The fast path is taken for float32, batch-1, channels-last CPU tensors outside
autograd; anything else (CUDA, NCHW, batches, or a build without the C
extension) runs ``F.conv2d`` + the activation, so results are the same up to
float32 summation order (~1e-6 relative; the parity tests cover both).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from functools import partial

import torch
import torch.nn.functional as F
from torch import nn

from siamtrack.models.fuse import PointwiseLinear, drop_identities, pointwise_conv
from siamtrack.models.plan import ChainPlan, NotPlannable

try:  # optional C extension (setup.py builds it when a C compiler is available)
    from siamtrack.models import _kernels
except ImportError:  # pragma: no cover - exercised only on installs without a compiler
    _kernels = None

__all__ = ["kernels_available", "FastModule", "DepthwiseConv", "GateAct", "gate_inplace", "PointwiseAct", "ConvAct",
           "FastSequential", "PointwiseMap", "gate_calls", "fast_input", "fuse_activations",
           "ACT_CODES"]

#: Activation codes of the C kernels: 0 none, 1 ReLU, 2 ReLU6, 3 hard-swish (Howard et al., ICCV 2019).
ACT_CODES = {None: 0, "relu": 1, "relu6": 2, "hardswish": 3}

# Depthwise convolutions whose channel count is not a multiple of 8 (the kernel's vector width) run the C kernel's
# scalar-tail loop only from this many channels up; below, oneDNN is faster.
MIN_KERNEL_CHANNELS = 32
# 1x1 convolutions run the C kernel ``pointwise_nhwc`` only when their weights (Cin x Cout floats) fit in this many
# floats (128 KB, within a core's L2 cache: the kernel streams the whole weight matrix once per block of 6 pixels);
# larger ones (ResNet-50's) go to MKL's cache-blocked product, which is up to 1.9x faster there.
MAX_POINTWISE_WEIGHTS = 32768
# Dense convolutions run the C kernel ``conv_nhwc`` only on image-like inputs of at most this many channels (a
# network's stem) with 3x3 kernels and 8 or 16 output channels (MobileNetV3's stem: 0.35 vs oneDNN's 0.39 ms
# on one thread); oneDNN is faster on deep inputs, larger kernels (AlexNet's 11x11: 1.2-1.75x slower in C) and
# wider outputs (MobileNetV2's 32: 1.2x).
MAX_STEM_CHANNELS = 4
STEM_KERNEL_SIZE = 3
MAX_STEM_OUT_CHANNELS = 16


def kernels_available() -> bool:
    """True when the C extension ``siamtrack.models._kernels`` was built and imports."""
    return _kernels is not None


def _activation_name(mod: nn.Module):
    """``"relu"`` / ``"relu6"`` / ``"hardswish"`` for those activation modules, else None."""
    if isinstance(mod, nn.ReLU6) or (isinstance(mod, nn.Hardtanh) and mod.min_val == 0.0 and mod.max_val == 6.0):
        return "relu6"
    if isinstance(mod, nn.ReLU):
        return "relu"
    if isinstance(mod, nn.Hardswish):
        return "hardswish"
    return None


def _apply_activation(y: torch.Tensor, act) -> torch.Tensor:
    if act == "relu":
        return F.relu(y)
    if act == "relu6":
        return F.hardtanh(y, 0.0, 6.0)
    if act == "hardswish":
        return F.hardswish(y)
    return y


def fast_input(x: torch.Tensor) -> bool:
    """The C fast path applies: C extension built, float32 batch-1 channels-last CPU tensor outside autograd."""
    return (_kernels is not None and x.device.type == "cpu" and x.dtype == torch.float32 and x.dim() == 4
            and x.shape[0] == 1 and not x.requires_grad and x.is_contiguous(memory_format=torch.channels_last))


class FastModule(nn.Module):
    """A module with a ``fast_forward(x)`` for inputs where :func:`fast_input` holds (its output then holds it too)
    and a ``slow_forward(x)`` (torch operators) for everything else."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fast_forward(x) if fast_input(x) else self.slow_forward(x)

    def fast_forward(self, x: torch.Tensor) -> torch.Tensor:
        """The module on ``x`` (where :func:`fast_input` holds) through its :meth:`fast_bind` calls; a module that
        cannot be bound falls back to :meth:`slow_forward`, made channels-last."""
        _, c, h, w = x.shape
        co, ho, wo = self.fast_out_shape(c, h, w)
        x2d = x.permute(0, 2, 3, 1).reshape(h * w, c)  # a view: in-place modules write into x
        out = None if self.inplace else torch.empty((ho * wo, co), dtype=torch.float32)
        calls = self.fast_bind(x2d, (c, h, w), out)
        if calls is None:
            return self.slow_forward(x).contiguous(memory_format=torch.channels_last)
        for f in calls:
            f()
        return (x2d if self.inplace else out).view(1, ho, wo, co).permute(0, 3, 1, 2)

    def slow_forward(self, x: torch.Tensor) -> torch.Tensor:  # pragma: no cover - interface
        raise NotImplementedError

    #: True when the module works in place on its input (its output is its input tensor).
    inplace = False
    #: True when ``fast_bind`` takes a ``residual`` added in the module's own pass.
    accepts_residual = False

    def fast_out_shape(self, c: int, h: int, w: int) -> tuple:
        """``(C, H, W)`` of the output for an input ``(1, c, h, w)``."""
        return c, h, w

    def fast_bind(self, inp: torch.Tensor, shape: tuple, out) -> list | None:
        """Calls (no arguments) that compute this module from ``inp`` into ``out``, or None if it cannot be planned.

        ``inp`` and ``out`` are ``(H*W, C)`` float32 row-major tensors (a channels-last map viewed as rows of
        channels; ``out`` is None for in-place modules), ``shape`` is the input's ``(C, H, W)``. Every pointer
        is resolved now, so the calls cost only the C function (see :class:`FastSequential`).
        """
        return None


class DepthwiseConv(FastModule):
    """Depthwise ``k x k`` convolution (zero padding, dilation 1) + bias + optional activation.

    Built from a ``Conv2d`` with ``groups == in_channels == out_channels``
    (weights ``(C, 1, k, k)``, BatchNorm already folded in). Input ``(B, C, H,
    W)`` float32; output ``(B, C, Ho, Wo)`` with ``Ho = (H + 2 p - k) // s + 1``,
    channels-last on the fast path. ``act`` is None, ``"relu"``, ``"relu6"`` or
    ``"hardswish"``. Convolutions with a channel count that is neither a
    multiple of 8 nor at least ``MIN_KERNEL_CHANNELS`` use oneDNN even on the
    fast path.
    """

    def __init__(self, conv: nn.Conv2d, act=None):
        super().__init__()
        if act not in ACT_CODES:
            raise ValueError(f"DepthwiseConv: unknown activation {act!r}")
        c = conv.out_channels
        self.channels, self.kernel = c, conv.kernel_size[0]
        self.stride, self.padding = conv.stride[0], conv.padding[0]
        self.act, self.act_code = act, ACT_CODES[act]
        weight = conv.weight.detach()
        bias = conv.bias.detach() if conv.bias is not None else torch.zeros(c, dtype=weight.dtype,
                                                                             device=weight.device)
        self.register_buffer("weight", weight.clone())
        self.register_buffer("bias", bias.clone().contiguous())
        # (k, k, C): the kernel's layout, one contiguous channel vector per tap.
        self.register_buffer("weight_hwc", weight[:, 0].permute(1, 2, 0).contiguous())
        self.use_kernel = c % 8 == 0 or c >= MIN_KERNEL_CHANNELS

    def extra_repr(self) -> str:
        return (f"{self.channels}, kernel={self.kernel}, stride={self.stride}, padding={self.padding}, "
                f"act={self.act}, c_kernel={self.use_kernel and _kernels is not None}")

    def fast_out_shape(self, c: int, h: int, w: int) -> tuple:
        k, s, p = self.kernel, self.stride, self.padding
        return c, (h + 2 * p - k) // s + 1, (w + 2 * p - k) // s + 1

    def fast_bind(self, inp, shape, out):
        if not self.use_kernel:
            return None
        c, h, w = shape
        _, ho, wo = self.fast_out_shape(c, h, w)
        return [partial(_kernels.depthwise_nhwc, inp.data_ptr(), self.weight_hwc.data_ptr(), self.bias.data_ptr(),
                        out.data_ptr(), h, w, c, self.kernel, self.stride, self.padding, ho, wo, self.act_code)]

    def slow_forward(self, x: torch.Tensor) -> torch.Tensor:
        weight = self.weight
        if x.is_contiguous(memory_format=torch.channels_last):
            weight = weight.contiguous(memory_format=torch.channels_last)
        y = F.conv2d(x, weight, self.bias, self.stride, self.padding, 1, self.channels)
        return _apply_activation(y, self.act)


class GateAct(FastModule):
    """A channel gate (``x * g(x)``: squeeze-excite, channel attention) followed by an activation (or none).

    ``gate`` exposes ``gate_weights(x) -> (B, C)`` and, for the one-call C path,
    ``gate_params() -> (w1 (Hd, C), b1, w2 (C, Hd), b2, kind)`` (kind 0:
    ReLU then hard-sigmoid, 1: ReLU then sigmoid). The fast path works in
    place on ``x``: :func:`fuse_activations` builds it only right after a
    :class:`DepthwiseConv`, whose output is a fresh tensor.
    """

    def __init__(self, gate: nn.Module, act=None):
        super().__init__()
        self.gate, self.act, self.act_code = gate, act, ACT_CODES[act]

    inplace = True

    def fast_bind(self, inp, shape, out):
        return gate_calls(self.gate, inp, shape, self.act_code)

    def slow_forward(self, x: torch.Tensor) -> torch.Tensor:
        return _apply_activation(x * self.gate.gate_weights(x)[:, :, None, None], self.act)


def gate_calls(gate: nn.Module, inp: torch.Tensor, shape: tuple, act_code: int):
    """The one C call (``gate_act_nhwc``) applying ``gate`` + activation in place on ``inp`` ``(H*W, C)``, or
    None when the gate does not expose ``gate_params``."""
    if not hasattr(gate, "gate_params"):
        return None
    c, h, w = shape
    w1, b1, w2, b2, kind = gate.gate_params()
    return [partial(_kernels.gate_act_nhwc, inp.data_ptr(), h * w, c, w1.data_ptr(), b1.data_ptr(), w1.shape[0],
                    w2.data_ptr(), b2.data_ptr(), kind, act_code)]


def gate_inplace(x: torch.Tensor, gate: nn.Module, act=None) -> torch.Tensor:
    """``act(x * gate.gate_weights(x))`` computed in place on ``x`` (which the caller owns); returns ``x``."""
    if fast_input(x):
        _, c, h, w = x.shape
        calls = gate_calls(gate, x.permute(0, 2, 3, 1).reshape(h * w, c), (c, h, w), ACT_CODES[act])
        if calls is not None:
            for f in calls:
                f()
            return x
    x.mul_(gate.gate_weights(x)[:, :, None, None])
    return _apply_activation(x, act)


class PointwiseAct(PointwiseLinear, FastModule):
    """1x1 convolution (as :class:`~siamtrack.models.fuse.PointwiseLinear`) followed by an activation (or none).

    Fast path: ``y = act(x_hwc @ W^T + b)`` on the ``(H*W, Cin)`` view, one call
    of the C kernel ``pointwise_nhwc`` (register-blocked matrix product, bias
    and activation in its epilogue) when ``Cout`` is a multiple of 8 and the
    weights are at most ``MAX_POINTWISE_WEIGHTS`` floats; else one
    ``mm`` then ``y = act(y + b)`` in place by ``bias_act_nhwc``. Input ``(1,
    Cin, H, W)`` float32 channels-last; output ``(1, Cout, H, W)`` channels-last.
    """

    def __init__(self, pw: PointwiseLinear, act=None):
        nn.Module.__init__(self)
        self.in_channels, self.out_channels = pw.in_channels, pw.out_channels
        self.act, self.act_code = act, ACT_CODES[act]
        self.weight = pw.weight
        self.bias = pw.bias
        zero = torch.zeros(pw.out_channels, dtype=pw.weight.dtype, device=pw.weight.device)
        self.register_buffer("weight_t", pw.weight.detach().t().contiguous())  # (Cin, Cout)
        self.register_buffer("bias_or_zero", (pw.bias.detach() if pw.bias is not None else zero).contiguous())

    def extra_repr(self) -> str:
        return f"{self.in_channels}, {self.out_channels}, act={self.act}"

    def slow_forward(self, x: torch.Tensor) -> torch.Tensor:
        return _apply_activation(pointwise_conv(x, self.weight, self.bias), self.act)

    forward = FastModule.forward
    fast_forward = FastModule.fast_forward
    accepts_residual = True

    def fast_out_shape(self, c: int, h: int, w: int) -> tuple:
        return self.out_channels, h, w

    def fast_bind(self, inp, shape, out, residual=None):
        """As :meth:`FastModule.fast_bind`; ``residual`` (an ``(H*W, Cout)`` tensor) is added after the activation."""
        _, h, w = shape
        r = 0 if residual is None else residual.data_ptr()
        if _pointwise_kernel_fits(self.in_channels, self.out_channels):  # bias, activation, residual in its epilogue
            return [partial(_kernels.pointwise_nhwc, inp.data_ptr(), self.weight_t.data_ptr(),
                            self.bias_or_zero.data_ptr(), r, out.data_ptr(), h * w, self.in_channels,
                            self.out_channels, self.act_code)]
        return [partial(torch.mm, inp, self.weight_t, out=out),
                partial(_kernels.bias_act_nhwc, out.data_ptr(), self.bias_or_zero.data_ptr(), r, h * w,
                        self.out_channels, self.act_code)]


def _pointwise_kernel_fits(cin: int, cout: int) -> bool:
    """The C kernel ``pointwise_nhwc`` takes this 1x1 convolution: ``cout`` a multiple of 8, weights small."""
    return cout % 8 == 0 and cin * cout <= MAX_POINTWISE_WEIGHTS


class PointwiseMap:
    """A fixed 1x1 convolution, e.g. one composed from a template at init: ``weight`` ``(Cout, Cin)``, ``bias``
    ``(Cout,)``, float32.

    ``map(x)`` for ``x`` ``(B, Cin, H, W)`` returns ``(B, Cout, H, W)``: on the
    fast path (see :func:`fast_input`; ``Cout`` a multiple of 8, at most
    ``MAX_POINTWISE_WEIGHTS`` weights) one call of the C kernel
    ``pointwise_nhwc`` into a fresh channels-last map, otherwise
    :func:`~siamtrack.models.fuse.pointwise_conv`.
    """

    def __init__(self, weight: torch.Tensor, bias: torch.Tensor):
        self.weight, self.bias = weight.contiguous(), bias.contiguous()
        self.weight_t = weight.t().contiguous()  # (Cin, Cout), the kernel's layout

    @property
    def out_channels(self) -> int:
        return self.weight.shape[0]

    def fast_bind(self, inp: torch.Tensor, shape: tuple, out: torch.Tensor, residual=None):
        """The C call computing the map from ``inp`` ``(H*W, Cin)`` into ``out`` ``(H*W, Cout)`` (as
        :meth:`FastModule.fast_bind`; plus ``residual`` ``(H*W, Cout)`` if given), or None when the kernel does
        not take it."""
        co, ci = self.weight.shape
        if not (_pointwise_kernel_fits(ci, co) and self.weight.device.type == "cpu"
                and self.weight.dtype == torch.float32 and _kernels is not None):
            return None
        _, h, w = shape
        return [partial(_kernels.pointwise_nhwc, inp.data_ptr(), self.weight_t.data_ptr(), self.bias.data_ptr(),
                        0 if residual is None else residual.data_ptr(), out.data_ptr(), h * w, ci, co, 0)]

    inplace = False

    def fast_out_shape(self, c: int, h: int, w: int) -> tuple:
        return self.out_channels, h, w

    def slow_forward(self, x: torch.Tensor) -> torch.Tensor:
        return pointwise_conv(x, self.weight, self.bias)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        # The fast modules' own driver (it needs only fast_out_shape / fast_bind / slow_forward / inplace).
        return FastModule.fast_forward(self, x) if fast_input(x) else self.slow_forward(x)


_MKLDNN_CONV_ACT = getattr(getattr(torch.ops, "mkldnn", None), "_convolution_pointwise", None)
_MKLDNN_ATTR = {"relu": ("relu", []), "relu6": ("hardtanh", [0.0, 6.0]), "hardswish": ("hardswish", [])}


class ConvAct(FastModule):
    """Dense (or grouped) ``Conv2d`` followed by an activation.

    Fast path: a small network stem (groups 1, at most ``MAX_STEM_CHANNELS``
    input channels, 8 or 16 output channels, 3x3 kernel, equal strides and
    paddings, no dilation) is one call of the C kernel ``conv_nhwc``
    (convolution + bias + activation, weights stored ``(k, k, Cin, Cout)``);
    any other convolution one oneDNN call (``mkldnn::_convolution_pointwise``);
    ``conv2d`` then the activation off the fast path.
    """

    def __init__(self, conv: nn.Conv2d, act):
        super().__init__()
        self.conv, self.act, self.act_code = conv, act, ACT_CODES[act]
        self.attr, self.scalars = _MKLDNN_ATTR[act]
        self.mkldnn = _MKLDNN_CONV_ACT is not None and isinstance(conv.padding, tuple) and \
            conv.padding_mode == "zeros"
        k, s, p = conv.kernel_size, conv.stride, conv.padding
        self.use_kernel = (conv.groups == 1 and conv.in_channels <= MAX_STEM_CHANNELS and conv.out_channels % 8 == 0
                           and conv.out_channels <= MAX_STEM_OUT_CHANNELS and k == (STEM_KERNEL_SIZE,) * 2
                           and s[0] == s[1] and isinstance(p, tuple) and p[0] == p[1]
                           and conv.dilation == (1, 1) and conv.padding_mode == "zeros")
        if self.use_kernel:
            bias = conv.bias.detach() if conv.bias is not None else torch.zeros(conv.out_channels)
            # (k*k*Cin, Cout): 2-D, so that a model-wide ``.to(memory_format=channels_last)`` leaves it as it is.
            self.register_buffer("weight_hwio", conv.weight.detach().permute(2, 3, 1, 0).reshape(-1, conv.out_channels)
                                 .contiguous())
            self.register_buffer("bias_or_zero", bias.to(conv.weight.dtype).contiguous())

    def fast_out_shape(self, c: int, h: int, w: int) -> tuple:
        conv = self.conv
        k, s, p = conv.kernel_size[0], conv.stride[0], conv.padding[0]
        return conv.out_channels, (h + 2 * p - k) // s + 1, (w + 2 * p - k) // s + 1

    def fast_bind(self, inp, shape, out):
        if not self.use_kernel:
            return None
        c, h, w = shape
        conv = self.conv
        co, ho, wo = self.fast_out_shape(c, h, w)
        return [partial(_kernels.conv_nhwc, inp.data_ptr(), self.weight_hwio.data_ptr(), self.bias_or_zero.data_ptr(),
                        out.data_ptr(), h, w, c, co, conv.kernel_size[0], conv.stride[0], conv.padding[0], ho, wo,
                        self.act_code)]

    def fast_forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.use_kernel:
            return FastModule.fast_forward(self, x)
        c = self.conv
        if not self.mkldnn:
            return self.slow_forward(x).contiguous(memory_format=torch.channels_last)
        return _MKLDNN_CONV_ACT(x, c.weight, c.bias, list(c.padding), list(c.stride), list(c.dilation), c.groups,
                                self.attr, self.scalars, "")

    def slow_forward(self, x: torch.Tensor) -> torch.Tensor:
        return _apply_activation(self.conv(x), self.act)


class FastSequential(nn.Sequential):
    """An ``nn.Sequential`` of :class:`FastModule` s: one :func:`fast_input` check, then a pre-bound plan.

    ``forward(x, residual=None)``: an optional residual is added to the output
    (in the last pass when the last module is a :class:`PointwiseAct`).

    On the fast path the chain runs as a :class:`~siamtrack.models.plan.ChainPlan`
    cached per input shape and calling thread (a plan's intermediate buffers
    are reused from call to call; the returned map is always a fresh tensor),
    or module by module (``fast_forward``) when a module cannot be planned.
    Any ``.to()`` / ``_apply`` drops the cached plans (they hold raw pointers
    to the weights).
    """

    def __init__(self, *args):
        super().__init__(*args)
        self._plans = {}

    def _apply(self, fn, *args, **kwargs):
        self._plans = {}
        return super()._apply(fn, *args, **kwargs)

    def _plan(self, x: torch.Tensor, with_residual: bool):
        key = (tuple(x.shape), threading.get_ident(), with_residual)
        plan = self._plans.get(key, False)
        if plan is False:
            try:
                plan = ChainPlan(self, tuple(x.shape[1:]), with_residual)
            except NotPlannable:
                plan = None
            self._plans[key] = plan
        return plan

    def forward(self, x: torch.Tensor, residual=None) -> torch.Tensor:
        """The chain on ``x``; ``residual``, if given, is added to the result (``chain(x) + residual``)."""
        if fast_input(x) and (residual is None or residual.is_contiguous(memory_format=torch.channels_last)):
            plan = self._plan(x, residual is not None)
            if plan is not None:
                return plan.run(x, residual)
        fast = fast_input(x)
        for m in self._modules.values():
            x = m.fast_forward(x) if fast else m.slow_forward(x)
        return x if residual is None else x + residual


def _is_depthwise(m: nn.Module) -> bool:
    return (isinstance(m, nn.Conv2d) and m.groups == m.in_channels == m.out_channels and m.groups > 1
            and m.kernel_size[0] == m.kernel_size[1] and m.stride[0] == m.stride[1]
            and m.padding[0] == m.padding[1] and m.dilation == (1, 1) and m.padding_mode == "zeros"
            and not isinstance(m.padding, str))


def _next_index(mods: list, i: int) -> int:
    """Index of the first module after ``i`` that is not ``nn.Identity`` (``len(mods)`` if none)."""
    j = i + 1
    while j < len(mods) and isinstance(mods[j], nn.Identity):
        j += 1
    return j


def fuse_activations(module: nn.Module) -> int:
    """Fuse convolutions with the activation after them, in place; returns the number of modules replaced.

    Every depthwise ``Conv2d`` becomes a :class:`DepthwiseConv` and every
    :class:`~siamtrack.models.fuse.PointwiseLinear` a :class:`PointwiseAct`.
    Inside an ``nn.Sequential``, the activation (ReLU, ReLU6, Hardswish) that
    follows a convolution (after any ``Identity``, e.g. a folded BatchNorm) is
    fused into it and replaced by ``Identity`` (other ``Conv2d`` + activation
    -> :class:`ConvAct`); a gate module (``gate_weights``) right after a
    depthwise convolution becomes a :class:`GateAct` with the activation that
    follows it, if any. Then ``Identity`` entries are dropped
    (:func:`~siamtrack.models.fuse.drop_identities`) and every Sequential made
    only of fast modules becomes a :class:`FastSequential`. Call after
    :func:`~siamtrack.models.fuse.fold_batchnorm` and
    :func:`~siamtrack.models.fuse.pointwise_as_linear`.
    """
    count = 0
    for parent in list(module.modules()):
        if isinstance(parent, FastModule):
            continue
        names = list(parent._modules)
        seq = isinstance(parent, nn.Sequential)
        for i, name in enumerate(names):
            mods = [parent._modules[n] for n in names]
            child = mods[i]
            j = _next_index(mods, i) if seq else len(mods)
            act = _activation_name(mods[j]) if j < len(mods) else None
            if _is_depthwise(child):
                gate_at = None
                g = j if act is None else _next_index(mods, j)  # the module after the (fused) activation
                if g < len(mods) and hasattr(mods[g], "gate_weights"):
                    k = _next_index(mods, g)
                    gate_act = _activation_name(mods[k]) if k < len(mods) else None
                    gate_at = (g, k if gate_act is not None else None, gate_act)
                parent._modules[name] = DepthwiseConv(child, act)
                if gate_at is not None:
                    g, k, gate_act = gate_at
                    parent._modules[names[g]] = GateAct(mods[g], gate_act)
                    if k is not None:
                        parent._modules[names[k]] = nn.Identity()
            elif isinstance(child, PointwiseLinear) and not isinstance(child, PointwiseAct):
                parent._modules[name] = PointwiseAct(child, act)
            elif act is not None and isinstance(child, nn.Conv2d):
                parent._modules[name] = ConvAct(child, act)
            else:
                continue
            if act is not None:
                parent._modules[names[j]] = nn.Identity()
            count += 1
    drop_identities(module)
    for parent in list(module.modules()):
        for name, child in list(parent._modules.items()):
            if (type(child) is nn.Sequential and len(child) > 0
                    and all(isinstance(m, FastModule) for m in child._modules.values())):
                parent._modules[name] = FastSequential(OrderedDict(child._modules))
    return count
