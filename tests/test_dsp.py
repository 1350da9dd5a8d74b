"""The ARMv7E-M DSP kernels (SMELT_DSP in smelt/ops/qconv.c, qfc.c, ...) against the portable C
kernels, bit for bit, on cortex-m4 under QEMU: random int8 layers of many shapes (im2col and 1x1
matrix multiply of int8 rows or of widened int16 inputs, the asm blocks with their folded
requantization and the C ones for clamped activations, odd channel and pixel counts (the
overlapping last pair), K % 4 tails, padding, strides, dilation, one-channel depthwise run as a
convolution, depthwise over zero-point padded bands of rows: 3x3 all in asm, other sizes and
clamped activations in C), fully connected; grouped convolution, depthwise with C % 4 != 0 and
one-pixel convolution stay
portable), each built twice (DSP and -DSMELT_PORTABLE) with the same inputs; both must equal the
numpy reference, and the DSP build must take fewer instructions.
"""
import numpy as np
import pytest

import smelt
from smelt import targets

from smelt.frontends import tflite as tfl

from .conftest import MODELS
from .test_tflite import conv_model, rng, weights
from .tflite_builder import ModelBuilder



def fc_model(seed, batches, k, n, per_channel=False):
    r = rng(seed)
    mb = ModelBuilder()
    x = mb.input((batches, k), "int8", scale=0.05, zero_point=int(r.integers(-20, 20)))
    wq, ws = weights(r, (n, k), 0 if per_channel else None)
    w = mb.const(wq, scale=ws, zero_point=0, axis=0)
    b = mb.const(r.normal(0, 2000, n).astype("int32"), scale=0.05 * ws, zero_point=0)
    y = mb.tensor((batches, n), "int8", scale=0.05 * float(np.max(ws)) * np.sqrt(k) * 40, zero_point=3)
    mb.op("FULLY_CONNECTED", [x, w, b], [y], "FullyConnectedOptions")
    mb.output(y)
    return mb.build()


CASES = {
    # convolution: 1x1 direct matrix multiply (odd pixel count, odd channels), im2col with padding
    "conv1x1": conv_model(11, (1, 5, 5, 8), out_c=7, k=1),
    "conv1x1_tail": conv_model(12, (2, 3, 4, 6), out_c=4, k=1, act="RELU6"),
    "conv1x1_stride2": conv_model(13, (1, 7, 7, 4), out_c=6, k=1, stride=2),
    "conv3x3_same": conv_model(14, (1, 9, 8, 5), out_c=6, k=3, stride=2, act="RELU"),
    "conv3x3_valid_dil": conv_model(15, (1, 10, 10, 4), out_c=5, k=3, dil=2, padding="VALID"),
    "conv5x5_per_tensor": conv_model(16, (1, 8, 8, 3), out_c=4, k=5, per_channel=False),
    "conv_groups": conv_model(17, (1, 6, 6, 4), out_c=4, k=3, groups=2),
    # 1x1 with K % 8 == 0, K >= 16: inputs widened to int16 (smelt_dsp_mm2w_asm), odd pixels and
    # channels; 3x3 whose kernel rows are whole words (im2col copies rows, smelt_dsp_mm2_asm)
    "conv1x1_wide": conv_model(41, (1, 5, 3, 32), out_c=7, k=1),
    "conv3x3_c4": conv_model(42, (1, 7, 6, 4), out_c=6, k=3),
    # depthwise: 4-channel words (3x3 fast path, borders), other widths, one-channel inputs
    "dw3x3": conv_model(21, (1, 9, 9, 8), out_c=8, k=3, depthwise=True, act="RELU6"),
    "dw3x3_stride2": conv_model(22, (1, 8, 7, 12), out_c=12, k=3, stride=2, depthwise=True),
    "dw5x5_dil": conv_model(23, (1, 10, 10, 4), out_c=4, k=5, dil=2, depthwise=True, padding="VALID"),
    "dw_c6": conv_model(24, (1, 7, 7, 6), out_c=6, k=3, depthwise=True),
    "dw3x3_valid_c16": conv_model(27, (1, 6, 9, 16), out_c=16, k=3, depthwise=True, padding="VALID", act="RELU"),
    "dw3x3_dil2": conv_model(28, (1, 9, 9, 4), out_c=4, k=3, dil=2, depthwise=True),
    # no activation: the all-asm 3x3 (smelt_dsp_dw3x3), rows through the zero-point padded band
    "dw3x3_plain": conv_model(29, (1, 7, 9, 8), out_c=8, k=3, depthwise=True),
    # 1x1 matrix multiply: two output channels, one pixel (portable), K % 4 == 0 with odd pixels
    "conv1x1_oc2": conv_model(18, (1, 3, 3, 16), out_c=2, k=1),
    "conv1x1_p1": conv_model(19, (1, 1, 1, 12), out_c=3, k=1),
    "dw_c1_m8": conv_model(25, (1, 12, 11, 1), out_c=8, k=3, stride=2, depthwise=True),
    "dw_c1_m3_k5": conv_model(26, (2, 9, 9, 1), out_c=3, k=5, depthwise=True, act="RELU"),
    # fully connected
    "fc": fc_model(31, 1, 67, 5),
    "fc_batches_per_channel": fc_model(32, 3, 40, 6, per_channel=True),
}


# Shapes the DSP kernels leave to the portable code (grouped convolution, depthwise with C % 4 != 0,
# one output pixel): exact, but no gain to
# assert (the count differs by the dispatch test and gcc's different inlining of the kernel).
PORTABLE_ONLY = {"conv_groups", "dw_c6", "conv1x1_p1"}


@pytest.fixture(scope="module")
def m4():
    return targets.get("cortex-m4")


def _run(t, art, x, portable):
    built = t.build(art, x, portable=portable)
    res = t.run(built)
    return res.outputs, res.instructions[0]


@pytest.mark.parametrize("case", sorted(CASES))
def test_dsp_equals_portable(m4, case):
    art = smelt.compile(tfl.import_tflite(CASES[case]), name="dsp")
    x = targets.example_inputs(art, seed=7)
    ref = art.reference(x)[art.graph.outputs[0]]
    (dsp,), n_dsp = _run(m4, art, x, portable=False)
    (portable,), n_portable = _run(m4, art, x, portable=True)
    np.testing.assert_array_equal(portable, ref)
    np.testing.assert_array_equal(dsp, ref)
    if case not in PORTABLE_ONLY:
        assert n_dsp < n_portable, (n_dsp, n_portable)


def test_extreme_inputs_are_exact(m4):
    """Inputs at the int8 limits (largest accumulators) through conv, depthwise and FC."""
    for case in ("conv3x3_same", "dw3x3", "dw_c1_m8", "fc", "conv1x1_wide", "conv3x3_c4", "dw3x3_plain"):
        art = smelt.compile(tfl.import_tflite(CASES[case]), name="dsp")
        shape = art.graph[art.graph.inputs[0]].shape
        for v in (-128, 127):
            x = [np.full(shape, v, np.int8)]
            (dsp,), _ = _run(m4, art, x, portable=False)
            np.testing.assert_array_equal(dsp, art.reference(x)[art.graph.outputs[0]], err_msg=f"{case} {v}")


def test_micro_speech_dsp_gain_is_deterministic(m4):
    """micro_speech on cortex-m4: the DSP build is exact, repeatable and well under the portable
    one (the figures are in the report of issue 5; here: at most 0.6x TFLM+CMSIS-NN's 1,495,380)."""
    art = smelt.compile(MODELS / "micro_speech_quantized.tflite", name="speech")
    x = targets.example_inputs(art)
    built = m4.build(art, x)
    first, second = m4.run(built), m4.run(built)
    assert first.instructions == second.instructions
    assert np.array_equal(first.outputs[0], art.reference(x)[art.graph.outputs[0]])
    (_,), n_portable = _run(m4, art, x, portable=True)
    assert first.instructions[0] <= 0.6 * 1_495_380 < n_portable


def test_person_detect_dsp_is_exact_and_under_tflm(m4):
    """person_detect on cortex-m4: bit-exact with the reference, and at most ~0.6x the instructions
    of TFLM+CMSIS-NN's 22,928,385 (measured 13,672,410 = 0.596x; the bound leaves 3 % for other
    kernels to move)."""
    art = smelt.compile(MODELS / "person_detect.tflite", name="person")
    x = targets.example_inputs(art)
    res = m4.run(m4.build(art, x))
    assert np.array_equal(res.outputs[0], art.reference(x)[art.graph.outputs[0]])
    assert res.instructions[0] <= 0.615 * 22_928_385


# ---------------------------------------------------------------- convolution over its dying input
# With the input in the arena, the planner ties a layer's input to its output `in_place_lead` bytes
# above it (TinyEngine's in-place depthwise, generalised): both kernels must still be exact.
IN_PLACE = ["dw3x3", "dw3x3_plain", "dw3x3_stride2", "dw5x5_dil", "dw_c6", "dw3x3_valid_c16", "dw_c1_m8",
            "dw_c1_m3_k5", "conv1x1", "conv1x1_tail", "conv1x1_wide", "conv3x3_same", "conv3x3_c4"]


def _overlapped(case):
    from smelt import registry
    from smelt.plan import memory
    art = smelt.compile(tfl.import_tflite(CASES[case]), name="dsp", io_in_arena=True)
    g, plan = art.graph, art.plan
    conv = next(n for n in g.nodes if n.op in ("QConv2D", "QDepthwiseConv2D"))
    x, y = conv.inputs[0], conv.outputs[0]
    assert plan.overlapped == {conv.name}, case
    lead = memory.align(registry.get(conv.op).in_place_lead(conv, g))
    assert plan.offset(x) == plan.offset(y) + lead and lead < g[y].nbytes    # they share bytes
    assert plan.arena_size < memory.build(g, io_in_arena=True, overlap=False).arena_size
    return art


@pytest.mark.parametrize("case", IN_PLACE)
def test_in_place_convolution_is_exact(m4, case):
    art = _overlapped(case)
    x = targets.example_inputs(art, seed=11)
    ref = art.reference(x)[art.graph.outputs[0]]
    np.testing.assert_array_equal(art.run(x)[art.graph.outputs[0]], ref)      # host, portable kernels
    for portable in (False, True):
        (out,), _ = _run(m4, art, x, portable=portable)
        np.testing.assert_array_equal(out, ref, err_msg=f"{case} portable={portable}")


def test_in_place_depthwise_lead_is_small():
    """A 3x3 stride-1 depthwise writes its output one row and two pixels ahead of its input
    (the rows and pixels still to be read), not a whole second tensor."""
    from smelt import registry
    art = smelt.compile(tfl.import_tflite(CASES["dw3x3"]), name="dsp", io_in_arena=True)
    g = art.graph
    dw = next(n for n in g.nodes if n.op == "QDepthwiseConv2D")
    _, h, w, c = g[dw.inputs[0]].shape
    assert registry.get(dw.op).in_place_lead(dw, g) <= (w + 3) * c
