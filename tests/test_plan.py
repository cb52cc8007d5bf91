"""Bound search branches (siamtrack.models.plan) of the NanoTrack models, on the recorded crops of
../shared/fixtures/nanotrack_v*/io.npz.

The plan must give the reference network outputs, the same numbers as the
module-by-module fast path, fresh outputs on every call, one plan per
template / shape / thread (bounded), none after the model moves, and a plain
fallback wherever a block has no bound form or the input is not a batch-1
channels-last CPU map.
"""

import threading

import numpy as np
import pytest
import torch

from conftest import nanotrack_weights
from siamtrack.models.checkpoint import load_strict, read_state_dict
from siamtrack.models.fastops import DepthwiseConv, kernels_available
from siamtrack.models.presets import get_preset
from siamtrack.models.siamese import build_model

pytestmark = pytest.mark.skipif(not kernels_available(), reason="siamtrack.models._kernels was not built")


def _rel(out: torch.Tensor, ref) -> float:
    ref = torch.as_tensor(ref)
    return float((out - ref).abs().max() / ref.abs().max())


def _prepared(shared, v):
    preset = get_preset(f"nanotrack-v{v}")
    model = build_model(preset["model"])
    load_strict(model, read_state_dict(nanotrack_weights(shared, v)), preset["name"])
    return model.prepare_inference()


def _crops(shared, v):
    io = np.load(shared / "fixtures" / f"nanotrack_v{v}" / "io.npz")
    z = torch.from_numpy(io["z_crop"]).contiguous(memory_format=torch.channels_last)
    x = torch.from_numpy(io["x_crop"]).contiguous(memory_format=torch.channels_last)
    return io, z, x


@pytest.fixture
def threads():
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


@pytest.mark.parametrize("v", [1, 2, 3])
def test_plan_matches_reference_and_module_path(shared_dir, v, threads):
    io, z, x = _crops(shared_dir, v)
    model = _prepared(shared_dir, v)
    with torch.inference_mode():
        state = model.template(z)
        torch.set_num_threads(1)
        cls, loc = model.track(state, x)
        assert model._branch_plan(state, x) is not None
        torch.set_num_threads(2)
        cls2, loc2 = model.track(state, x)
        mod_cls, mod_loc = model.head.track(state, model.features(x))  # module by module
    assert _rel(cls, io["cls"]) < 1e-4 and _rel(loc, io["loc"]) < 1e-4
    if v == 3:  # its down layers run as two products (no concatenated copy): another summation order
        assert _rel(cls, mod_cls) < 1e-5 and _rel(loc, mod_loc) < 1e-5
    else:  # the same kernel calls as module by module
        assert torch.equal(cls, mod_cls) and torch.equal(loc, mod_loc)
    assert torch.equal(cls, cls2) and torch.equal(loc, loc2)
    assert cls.is_contiguous(memory_format=torch.channels_last) and cls.shape == io["cls"].shape


def test_outputs_are_fresh_and_plans_follow_the_template(shared_dir):
    io, z, x = _crops(shared_dir, 2)
    model = _prepared(shared_dir, 2)
    with torch.inference_mode():
        state = model.template(z)
        cls, loc = model.track(state, x)
        keep = cls.clone(), loc.clone()
        model.track(state, x.flip(3).contiguous(memory_format=torch.channels_last))  # plan buffers reused
        assert torch.equal(cls, keep[0]) and torch.equal(loc, keep[1])
        # A new template (re-init on another target): its own plan, its own result.
        other = model.template(z.flip(2).contiguous(memory_format=torch.channels_last))
        cls_other, _ = model.track(other, x)
        ref_other, _ = model.head.track(other, model.features(x))
        assert torch.equal(cls_other, ref_other) and not torch.equal(cls_other, cls)
        assert len(model._branch_plans) == 2
        for _ in range(model.MAX_BRANCH_PLANS + 2):  # a long run of re-inits keeps a bounded cache
            model.track(model.template(z), x)
        assert len(model._branch_plans) == model.MAX_BRANCH_PLANS


def test_each_thread_gets_its_own_plan(shared_dir):
    _, z, x = _crops(shared_dir, 2)
    model = _prepared(shared_dir, 2)
    with torch.inference_mode():
        state = model.template(z)
        mine = model.track(state, x)[0]
    got = {}

    def worker():
        with torch.inference_mode():
            got["cls"] = model.track(state, x)[0]

    t = threading.Thread(target=worker)
    t.start()
    t.join()
    assert torch.equal(got["cls"], mine)
    assert len({key[2] for key in model._branch_plans}) == 2


def test_plans_are_dropped_when_the_model_moves(shared_dir):
    _, z, x = _crops(shared_dir, 1)
    model = _prepared(shared_dir, 1)
    with torch.inference_mode():
        state = model.template(z)
        model.track(state, x)
        assert model._branch_plans
        model.float()
        assert not model._branch_plans


def test_inputs_off_the_fast_path_run_module_by_module(shared_dir):
    io, z, x = _crops(shared_dir, 2)
    model = _prepared(shared_dir, 2)
    with torch.inference_mode():
        state = model.template(z)
        nchw = x.contiguous()
        assert model._branch_plan(state, nchw) is None
        cls, loc = model.track(state, nchw)
    assert _rel(cls, io["cls"]) < 1e-4 and _rel(loc, io["loc"]) < 1e-4
    assert not model._branch_plans


def test_a_block_without_bound_form_falls_back(shared_dir):
    io, z, x = _crops(shared_dir, 1)
    model = _prepared(shared_dir, 1)
    dw = next(m for m in model.backbone.modules() if isinstance(m, DepthwiseConv))
    dw.use_kernel = False  # as for a channel count the C kernel does not take: oneDNN, outside any plan
    with torch.inference_mode():
        state = model.template(z)
        cls, loc = model.track(state, x)
        assert model._branch_plan(state, x) is None
    assert _rel(cls, io["cls"]) < 1e-4 and _rel(loc, io["loc"]) < 1e-4


def test_unprepared_model_has_no_plan(shared_dir):
    _, z, x = _crops(shared_dir, 2)
    preset = get_preset("nanotrack-v2")
    model = build_model(preset["model"]).eval()
    with torch.inference_mode():
        assert model._branch_plan(model.template(z), x) is None
