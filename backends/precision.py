"""Mixed precision on OpenVINO's CPU plugin: which layers of a bf16 graph are kept in f32, and how.

Why: ``INFERENCE_PRECISION_HINT bf16`` runs every convolution on bf16 inputs and weights (8 significant bits,
relative rounding 2**-9) and stores the activations between layers in bf16. On the exported Siamese graphs the
rounding accumulates through depth and is largest in the high-resolution stem of the search backbone (the
convolutions on the raw 0..255 pixels of the 255x255 search crop and the first stride-2 blocks), and NanoTrack's
``loc`` output is ``exp(bbox_pred)`` so any error of the logits comes out relative (``exp(a + e) = exp(a)(1 + e)``).
Measured on this machine (OpenVINO 2026.4, 1 thread, fixture crops, ``max|bf16 - fp32| / max|fp32|`` of
``(cls, loc)``), with the layers named kept in f32 and everything else bf16:

=============================================  ===============  ===============  ===============
kept in f32                                     NanoTrack v1     NanoTrack v2     NanoTrack v3
=============================================  ===============  ===============  ===============
nothing (plain bf16)                            0.027 / 0.503    0.019 / 0.038    0.015 / 0.032
the first conv (raw pixels), both graphs        0.023 / 0.424    0.019 / 0.040
the cls / loc output convs only                 0.027 / 0.524    0.018 / 0.031
the whole head (corr, towers, cls / loc)        0.025 / 0.515    0.018 / 0.031
the template graph (once per target)            0.021 / 0.512    0.015 / 0.038    0.012 / 0.032
template + search blocks 0-1 (stride <= 4)      0.014 / 0.135    0.011 / 0.022    0.017 / 0.041
template + search blocks 0-2 (stride <= 8)      0.009 / 0.037    0.007 / 0.017    0.015 / 0.030
template + the whole search backbone            0.009 / 0.061    0.006 / 0.019    0.014 / 0.030
=============================================  ===============  ===============  ===============

Keeping the correlation block (``corr_*``) of NanoTrack v2 in f32 changes nothing (0.019 / 0.037). The error is
not one layer's: it is spread over the search backbone, largest in its high-resolution stem, and on one crop it
behaves like a random walk (keeping more layers can make it larger: v1 0.014 with blocks 0-4, 0.061 with the
whole backbone), so the stride was chosen on 24 crops of vot/bag, otb/Crossing, Couple and Basketball as well
as the fixture crop: ``max`` over the crops with the stem up to stride 2 / 4 / 8 / 16 in f32 (template f32):
v2 0.056 / 0.043 / 0.025 / 0.022 (plain bf16 0.060), v3 0.054 / 0.040 / 0.025 / 0.025 (0.047), v1 0.47 /
0.15 / 0.135 / 0.155 (0.50; v1 stays off target whatever is kept short of the whole graph).
SiamRPN++ MobileNetV2 (fixture crop): plain 0.094, stride 8: 0.024, stride 16: 0.003.

Cost (search graph alone, 1 thread): NanoTrack v2 fp32 2.33 ms, plain bf16 1.58 ms, stride 8 2.50 ms (the stem
is where bf16 saved the time); SiamRPN++ MobileNetV2 fp32 241 ms, plain bf16 134 ms, stride 8 145 ms.

What is kept in f32 (:func:`keep_f32`):

* the template graph entirely: it runs once per target, so f32 there costs nothing per frame, and its error
  enters every frame's correlation;
* in the search graph, every convolution whose output has a spatial stride of at most ``stem_stride`` relative
  to the search crop, with the elementwise operations fused into it (bias, residual sum, activation): the stem on
  the raw pixels, where bf16 costs the most accuracy. ``stem_stride`` is the preset's ``bf16_f32_stem_stride``
  (8 for NanoTrack v1-v3 and SiamRPN++ MobileNetV2; absent = 0 for the presets plain bf16 keeps within 0.015).

How: OpenVINO's ``DisablePrecisionConversion`` runtime attribute (``ov::disable_conversion``, the successor of
``disable_fp16_compression`` / ``precise``) on a node makes the CPU plugin keep that node in its original f32
(``Node::keepOrigPrecision`` in ``Graph::EnforceInferencePrecision``). The Python API cannot build that attribute
directly, so it is read once from a two-node IR that carries it and attached with ``Node.set_rt_info``. Checked in
the compiled model's runtime graph (``runtimePrecision`` of each ``Convolution``), see :func:`runtime_precisions`.
Two limits of the CPU plugin (2026.4): a MatMul (the point-wise correlation) and the small
squeeze-excitation FC subgraphs lose the attribute in the plugin's own transformations and run in bf16; a
convolution whose residual sum is fused must be marked with that sum (else compiling fails with "object is not
initialized"), which :func:`keep_f32` does.
"""

from __future__ import annotations

from typing import Dict, Iterable, List

__all__ = ["STEM_STRIDE", "keep_f32", "prepare_bf16", "runtime_precisions"]

#: The ``stem_stride`` the presets that need one use (their ``bf16_f32_stem_stride``).
STEM_STRIDE = 8

_LAYERS = ("Convolution", "GroupConvolution")
#: Elementwise operations the CPU plugin fuses into the convolution before them (marked with it).
_FUSED = {"Add", "Multiply", "Subtract", "Relu", "HSwish", "HSigmoid", "HardSigmoid", "Clamp", "Minimum", "Maximum",
          "Sigmoid", "PRelu", "Swish", "Divide"}
_KEY = "DisablePrecisionConversion_0"
_ATTR = None

_IR = """<?xml version="1.0"?>
<net name="keep_f32" version="11"><layers>
<layer id="0" name="in" type="Parameter" version="opset1"><data shape="1" element_type="f32" />
<output><port id="0" precision="FP32"><dim>1</dim></port></output></layer>
<layer id="1" name="keep" type="Relu" version="opset1">
<rt_info><attribute name="DisablePrecisionConversion" version="0" value="dynamic:f16,bf16" /></rt_info>
<input><port id="0" precision="FP32"><dim>1</dim></port></input>
<output><port id="1" precision="FP32"><dim>1</dim></port></output></layer>
<layer id="2" name="out" type="Result" version="opset1">
<input><port id="0" precision="FP32"><dim>1</dim></port></input></layer>
</layers><edges><edge from-layer="0" from-port="0" to-layer="1" to-port="0" />
<edge from-layer="1" from-port="1" to-layer="2" to-port="0" /></edges></net>"""


def _attribute(core):
    """The ``DisablePrecisionConversion`` attribute (an ``OVAny``), read once from a two-node IR."""
    global _ATTR
    if _ATTR is None:
        import numpy as np
        import openvino

        model = core.read_model(_IR, openvino.Tensor(np.zeros(0, np.uint8)))
        _ATTR = next(op for op in model.get_ops() if op.get_type_name() == "Relu").get_rt_info()[_KEY]
    return _ATTR


def _spatial(shape) -> int:
    """The width of an NCHW map (0 for other ranks)."""
    return int(shape[-1]) if len(shape) == 4 else 0


def _input_side(shape) -> int:
    """The side of an input crop, ``(N, 3, H, W)`` float32 or ``(N, H, W, 3)`` uint8 (0 for other ranks)."""
    return max(int(d) for d in shape[1:]) if len(shape) == 4 else 0


def _fused_chain(op) -> Iterable:
    """The elementwise operations after ``op`` that the plugin fuses into it (a single-consumer chain)."""
    while True:
        users = [t.get_node() for out in op.outputs() for t in out.get_target_inputs()
                 if t.get_node().get_type_name() != "ShapeOf"]
        if len(users) != 1 or users[0].get_type_name() not in _FUSED:
            return
        op = users[0]
        yield op


def keep_f32(model, stem_stride: int = STEM_STRIDE) -> List[str]:
    """Mark the stem convolutions of a search graph (output stride ``<= stem_stride`` relative to the widest
    input) and their fused elementwise operations to run in f32 under bf16 inference precision.

    Args:
        model: an ``openvino.Model`` (modified in place).
        stem_stride: the largest output stride kept in f32 (0: none).

    Returns:
        The friendly names of the marked convolutions.
    """
    from siamtrack.backends.runtimes import _core

    attr = _attribute(_core())
    width = max(_input_side(p.get_partial_shape().to_shape()) for p in model.get_parameters())
    marked = []
    for op in model.get_ordered_ops():
        if op.get_type_name() not in _LAYERS or not stem_stride:
            continue
        out = _spatial(op.get_output_partial_shape(0).to_shape())
        if out and out * stem_stride >= width:
            for node in (op, *_fused_chain(op)):
                node.set_rt_info(attr, _KEY)
            marked.append(op.get_friendly_name())
    return marked


def prepare_bf16(path, stem_stride: int = 0) -> tuple:
    """``(openvino.Model, inference precision)`` for the ONNX graph ``path`` asked for in bf16.

    A template graph (no ``zf*`` input: it runs once per target) compiles in ``f32``; a search graph in ``bf16``
    with the convolutions up to output stride ``stem_stride`` (the preset's ``bf16_f32_stem_stride``; 0: none)
    kept in f32 (:func:`keep_f32`).
    """
    from siamtrack.backends.runtimes import _core

    model = _core().read_model(str(path))
    names = {n for p in model.get_parameters() for n in p.get_output_tensor(0).get_names()}
    if not any(n.startswith("zf") for n in names):
        return model, "f32"
    keep_f32(model, stem_stride)
    return model, "bf16"


def runtime_precisions(compiled) -> Dict[str, str]:
    """``{original layer name: runtime precision}`` of the compiled model's convolutions and MatMuls (what the
    CPU plugin really runs; fused layers are listed under each of their original names)."""
    result = {}
    for node in compiled.get_runtime_model().get_ordered_ops():
        rt = node.get_rt_info()
        if str(rt["layerType"].astype(str)) in ("Convolution", "MatMul", "FullyConnected", "Subgraph"):
            for name in str(rt["originalLayersNames"].astype(str)).split(","):
                if name:
                    result[name] = str(rt["runtimePrecision"].astype(str))
    return result
