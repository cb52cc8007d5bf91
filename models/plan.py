"""Whole-branch execution plans: a model's per-frame branch bound once into a flat list of kernel calls.

After :func:`~siamtrack.models.fastops.fuse_activations` every layer of a
NanoTrack network is a fast module whose work is one or two C-kernel calls on
raw pointers (:meth:`~siamtrack.models.fastops.FastModule.fast_bind`). Going
through ``nn.Module.__call__``, the per-Sequential plans and the heads' Python
for each of its ~60 layers costs about as much as the arithmetic itself on
this project's small maps. A :class:`BranchPlan` binds the whole search branch
(backbone, heads, output activations) once per input shape, template and
calling thread: every intermediate map is a buffer the plan owns, every call
is pre-bound, and a frame costs one pass over that list. Only the calls that
read the caller's input are bound per run.

Planning protocol: :func:`bind_module` binds a module from an input buffer
and returns its output buffer. Fast modules bind through ``fast_bind``;
``nn.Sequential`` chains its children; any other module takes part by
defining ``plan_bind(binder, inp, shape, residual)``; heads define
``plan_track(binder, state, inp, shape)`` returning their output buffers. A
module that cannot be planned raises :class:`NotPlannable`, and the model then
runs its ordinary forward path. Buffers are ``(H*W, C)`` float32 row-major
tensors (channels-last maps of batch 1 seen as rows of channels); shapes are
``(C, H, W)``.
"""

from __future__ import annotations

from functools import partial

import torch
from torch import nn

from siamtrack.models.fastops import ACT_CODES, FastModule, PointwiseAct, gate_calls

__all__ = ["NotPlannable", "Binder", "BranchPlan", "bind_module"]


class NotPlannable(Exception):
    """A module on the branch has no bound form (e.g. a layer oneDNN runs, or a GPU tensor)."""


class Binder:
    """Collects a plan's calls and owns its buffers.

    ``binder.input`` stands for the caller's input map: a module bound on it
    is re-bound to the actual input at each run (its checks are done now, on
    a buffer of the same shape).
    """

    def __init__(self):
        self.calls: list = []
        self.buffers: list = []  # every buffer / weight the calls point into (they hold raw pointers only)
        self.input = torch.empty(0)
        self.current_input = None  # the caller's (H*W, C) input during a run

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

    def bind_fast(self, module: FastModule, inp: torch.Tensor, shape: tuple, residual=None) -> tuple:
        """Bind one fast module; ``residual`` (a buffer of the output's shape) is added in its last pass, which
        only :class:`~siamtrack.models.fastops.PointwiseAct` can do. Returns ``(output buffer, output shape)``."""
        out_shape = module.fast_out_shape(*shape)
        if residual is not None and (not isinstance(module, PointwiseAct) or residual is self.input):
            raise NotPlannable(f"{type(module).__name__} cannot add a residual in its pass")
        if module.inplace:
            if inp is self.input:  # would write into the caller's tensor
                raise NotPlannable("in-place module on the input")
            out = inp
        else:
            out = self.buffer(out_shape)
        args = (shape, None if module.inplace else out) + (() if residual is None else (residual,))
        if inp is self.input:
            c, h, w = shape
            if module.fast_bind(torch.empty((h * w, c)), *args) is None:
                raise NotPlannable(f"{type(module).__name__} has no bound form")
            self.calls.append(partial(self._run_on_input, module, args))
        else:
            self.add(module.fast_bind(inp, *args))
        return out, out_shape

    def bind_gate(self, gate: nn.Module, buf: torch.Tensor, shape: tuple, act=None) -> None:
        """Bind a channel gate (+ activation) applied in place on ``buf``."""
        if buf is self.input:
            raise NotPlannable("in-place gate on the input")
        self.add(gate_calls(gate, buf, shape, ACT_CODES[act]))

    def _run_on_input(self, module: FastModule, args: tuple) -> None:
        for f in module.fast_bind(self.current_input, *args):
            f()


def bind_module(binder: Binder, module: nn.Module, inp: torch.Tensor, shape: tuple, residual=None) -> tuple:
    """Bind ``module`` applied to ``inp`` (shape ``(C, H, W)``), plus ``residual`` if given; returns ``(output
    buffer, output shape)``. Raises :class:`NotPlannable` for a module without a bound form."""
    if hasattr(module, "plan_bind"):
        return module.plan_bind(binder, inp, shape, residual)
    if isinstance(module, FastModule):
        return binder.bind_fast(module, inp, shape, residual)
    if isinstance(module, nn.Sequential) and len(module) > 0:
        mods = list(module._modules.values())
        for i, m in enumerate(mods):
            inp, shape = bind_module(binder, m, inp, shape, residual if i == len(mods) - 1 else None)
        return inp, shape
    raise NotPlannable(f"{type(module).__name__} has no bound form")


class BranchPlan:
    """A search branch bound for one input shape: ``run(x)`` -> the branch's outputs.

    Built by :meth:`~siamtrack.models.siamese.SiameseModel.track` through
    ``build(x_shape)``; ``x`` ``(1, C, H, W)`` float32 channels-last CPU.
    Returns fresh channels-last tensors ``(1, Co, Ho, Wo)`` (copies of the
    plan's buffers, so a caller may keep them across frames).
    """

    def __init__(self, binder: Binder, outputs: list):
        self.binder, self.outputs = binder, outputs

    def run(self, x: torch.Tensor) -> tuple:
        _, c, h, w = x.shape
        self.binder.current_input = x.permute(0, 2, 3, 1).reshape(h * w, c)
        try:
            for f in self.binder.calls:
                f()
        finally:
            self.binder.current_input = None
        return tuple(buf.view(1, ho, wo, co).permute(0, 3, 1, 2).clone() for buf, (co, ho, wo) in self.outputs)
