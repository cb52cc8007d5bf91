"""Execution plans: chains of fast modules, or a model's whole per-frame branch, bound once into kernel calls.

After :func:`~siamtrack.models.fastops.fuse_activations` every layer of a
NanoTrack network is a fast module whose work is one or two C-kernel calls on
raw pointers (:meth:`~siamtrack.models.fastops.FastModule.fast_bind`). Going
through ``nn.Module.__call__`` and the heads' Python for each of its ~60
layers costs about as much as the arithmetic itself on this project's small
maps. A plan binds a chain (:class:`~siamtrack.models.fastops.FastSequential`)
or a whole search branch (:class:`BranchPlan`: backbone, heads, output
activations) once per input shape and calling thread: every intermediate map
is a buffer the plan owns, every call is pre-bound, and a run is one pass over
that list. Only the calls that touch the caller's tensors (``binder.input``,
``binder.output``, ``binder.residual``) are bound at each run.

Planning protocol: :func:`bind_module` binds a module from an input buffer and
returns its output buffer. Modules with ``fast_bind`` / ``fast_out_shape``
(fast modules) bind through those; ``nn.Sequential`` chains its children; any
other module takes part by defining ``plan_bind(binder, inp, shape,
residual)``; heads define ``plan_track(binder, state, inp, shape)`` returning
their output buffers. A module that cannot be planned raises
:class:`NotPlannable`, and its caller runs the ordinary forward path. Buffers
are ``(H*W, C)`` float32 row-major tensors (channels-last maps of batch 1 seen
as rows of channels); shapes are ``(C, H, W)``.
"""

from __future__ import annotations

from functools import partial

import torch
from torch import nn

__all__ = ["NotPlannable", "Binder", "BranchPlan", "bind_module"]


class NotPlannable(Exception):
    """A module on the branch has no bound form (e.g. a layer oneDNN runs, or a GPU tensor)."""


class Binder:
    """Collects a plan's calls and owns its buffers.

    ``input``, ``output`` and ``residual`` stand for the caller's tensors of a
    run (set in :attr:`current` by the plan): a module bound on one of them is
    re-bound to the actual tensor at each run (its checks are done now).
    """

    def __init__(self):
        self.calls: list = []
        self.buffers: list = []  # every buffer / weight the calls point into (they hold raw pointers only)
        self.input, self.output, self.residual = torch.empty(0), torch.empty(0), torch.empty(0)
        self.current: dict = {}  # id(stand-in) -> the caller's (H*W, C) tensor, during a run

    def own(self, *objs) -> None:
        """Keep objects made for the plan (modules, weight tensors) alive as long as the plan."""
        self.buffers.extend(objs)

    def buffer(self, shape: tuple) -> torch.Tensor:
        c, h, w = shape
        buf = torch.empty((h * w, c), dtype=torch.float32)
        self.buffers.append(buf)
        return buf

    def add(self, calls) -> None:
        if calls is None:
            raise NotPlannable("no bound form")
        self.calls.extend(calls)

    def _stand_in(self, t) -> bool:
        return t is self.input or t is self.output or t is self.residual

    def bind_fast(self, module, inp: torch.Tensor, shape: tuple, residual=None, out=None) -> tuple:
        """Bind one fast module writing into ``out`` (a new buffer if None); ``residual`` (of the output's shape)
        is added in its pass, which only modules with ``accepts_residual`` can do. Returns ``(output buffer,
        output shape)``."""
        out_shape = module.fast_out_shape(*shape)
        if residual is not None and not getattr(module, "accepts_residual", False):
            raise NotPlannable(f"{type(module).__name__} cannot add a residual in its pass")
        if module.inplace:
            if inp is self.input or out is not None:  # would write into the caller's tensor / not into ``out``
                raise NotPlannable("in-place module at the start or end of a plan")
            out = inp
        elif out is None:
            out = self.buffer(out_shape)
        args = (inp, shape, None if module.inplace else out) + (() if residual is None else (residual,))
        calls = module.fast_bind(*args)  # on a stand-in: only checked here, bound again at each run
        if calls is None:
            raise NotPlannable(f"{type(module).__name__} has no bound form")
        if any(self._stand_in(t) for t in args if isinstance(t, torch.Tensor)):
            self.calls.append(partial(self._run_bound_now, module, args))
        else:
            self.calls.extend(calls)
        return out, out_shape

    def _run_bound_now(self, module, args: tuple) -> None:
        cur = self.current
        for f in module.fast_bind(*(cur.get(id(a), a) if isinstance(a, torch.Tensor) else a for a in args)):
            f()


def bind_module(binder: Binder, module: nn.Module, inp: torch.Tensor, shape: tuple, residual=None, out=None) -> tuple:
    """Bind ``module`` applied to ``inp`` (shape ``(C, H, W)``), plus ``residual`` if given, into ``out`` if given
    (only fast modules and chains take ``out``); returns ``(output buffer, output shape)``. Raises
    :class:`NotPlannable` for a module without a bound form."""
    if hasattr(module, "plan_bind") and out is None:
        return module.plan_bind(binder, inp, shape, residual)
    if isinstance(module, nn.Sequential) and len(module) > 0:
        mods = list(module._modules.values())
        for i, m in enumerate(mods):
            last = i == len(mods) - 1
            inp, shape = bind_module(binder, m, inp, shape, residual if last else None, out if last else None)
        return inp, shape
    if hasattr(module, "fast_bind"):
        return binder.bind_fast(module, inp, shape, residual, out)
    raise NotPlannable(f"{type(module).__name__} has no bound form")


def _as_rows(t: torch.Tensor) -> torch.Tensor:
    """``(1, C, H, W)`` channels-last -> its ``(H*W, C)`` view."""
    _, c, h, w = t.shape
    return t.permute(0, 2, 3, 1).reshape(h * w, c)


class ChainPlan:
    """A chain of fast modules bound for one input shape: ``run(x, residual=None)`` -> a fresh map.

    ``x`` (and ``residual``, of the output's shape) ``(1, C, H, W)`` float32
    channels-last CPU. The residual is added in the last module's pass when it
    accepts one, else after the chain.
    """

    def __init__(self, chain: nn.Module, shape: tuple, with_residual: bool):
        self.binder = binder = Binder()
        self.fused = with_residual
        try:
            _, self.out_shape = bind_module(binder, chain, binder.input, shape,
                                            binder.residual if with_residual else None, binder.output)
        except NotPlannable:
            if not with_residual:
                raise
            self.binder = binder = Binder()
            self.fused = False
            _, self.out_shape = bind_module(binder, chain, binder.input, shape, None, binder.output)

    def run(self, x: torch.Tensor, residual=None) -> torch.Tensor:
        co, ho, wo = self.out_shape
        y = torch.empty((ho * wo, co), dtype=torch.float32)
        b = self.binder
        b.current = {id(b.input): _as_rows(x), id(b.output): y}
        if residual is not None and self.fused:
            b.current[id(b.residual)] = _as_rows(residual)
        try:
            for f in b.calls:
                f()
        finally:
            b.current = {}
        out = y.view(1, ho, wo, co).permute(0, 3, 1, 2)
        return out + residual if residual is not None and not self.fused else out


class BranchPlan:
    """A search branch bound for one input shape: ``run(x)`` -> the branch's outputs.

    Built by :meth:`~siamtrack.models.siamese.SiameseModel.track`; ``x``
    ``(1, C, H, W)`` float32 channels-last CPU. Returns fresh channels-last
    tensors ``(1, Co, Ho, Wo)`` (copies of the plan's buffers, so a caller may
    keep them across frames).
    """

    def __init__(self, binder: Binder, outputs: list):
        self.binder, self.outputs = binder, outputs

    def run(self, x: torch.Tensor) -> tuple:
        b = self.binder
        b.current = {id(b.input): _as_rows(x)}
        try:
            for f in b.calls:
                f()
        finally:
            b.current = {}
        return tuple(buf.view(1, ho, wo, co).permute(0, 3, 1, 2).clone() for buf, (co, ho, wo) in self.outputs)
