"""The MLPerf-Tiny-style benchmark models (bench/models.py): architecture, MACs, and smelt's compiled
C against onnxruntime."""
import numpy as np
import onnx
import pytest

import smelt
from bench import models
from tests.onnx_util import run_ort

# BatchNormalization nodes in each reference architecture (all convs/denses but the projection
# shortcuts of ResNet-8 and the final classifier / reconstruction layer).
BN_COUNT = {"ds_cnn": 9, "mobilenet_v1_025": 27, "resnet8": 7, "fc_autoencoder": 9}


def _dims(vi: onnx.ValueInfoProto) -> tuple[int, ...]:
    return tuple(d.dim_value for d in vi.type.tensor_type.shape.dim)


@pytest.mark.parametrize("name", models.NAMES)
def test_interface_and_architecture(name):
    m = models.build(name)
    assert [i.name for i in m.graph.input] == ["input"]
    assert [o.name for o in m.graph.output] == ["output"]
    assert _dims(m.graph.input[0]) == models.INPUT_SHAPES[name]
    assert _dims(m.graph.output[0]) == models.OUTPUT_SHAPES[name]
    assert m.opset_import[0].version == 13
    ops = [n.op_type for n in m.graph.node]
    assert ops.count("BatchNormalization") == BN_COUNT[name]
    for init in m.graph.initializer:
        if init.name.endswith(".var"):
            var = onnx.numpy_helper.to_array(init)
            assert var.min() > 0 and var.std() > 0.1     # non-trivial statistics, not identity BNs


@pytest.mark.parametrize("name", models.NAMES)
def test_macs_match_mlperf(name):
    n = models.macs(models.build(name))
    assert abs(n / models.MLPERF_MACS[name] - 1) < 0.10, (name, n)


def test_macs_helper_counts_conv_and_gemm():
    # DS-CNN by hand: first conv, 4 x (depthwise + pointwise) on the 25x5 map, classifier
    hand = 25 * 5 * 64 * 10 * 4 + 4 * (25 * 5 * 64 * 9 + 25 * 5 * 64 * 64) + 64 * 12
    assert models.macs(models.build("ds_cnn")) == hand


def test_build_is_deterministic_and_cached(tmp_path, monkeypatch):
    monkeypatch.setattr(models, "CACHE", tmp_path)
    a = models.build("resnet8").SerializeToString()
    assert models.build("resnet8").SerializeToString() == a
    p = models.path("resnet8")
    assert p == tmp_path / "resnet8.onnx" and p.read_bytes() == a
    mtime = p.stat().st_mtime_ns
    assert models.path("resnet8").stat().st_mtime_ns == mtime      # not rewritten
    with pytest.raises(KeyError, match="unknown benchmark model"):
        models.build("resnet9")


@pytest.mark.parametrize("name", models.NAMES)
def test_onnxruntime_runs(name):
    (y,) = run_ort(models.build(name), models.example_input(name))
    assert y.shape == models.OUTPUT_SHAPES[name] and np.all(np.isfinite(y))
    if name != "fc_autoencoder":                                   # classifiers end in Softmax
        assert abs(float(y.sum()) - 1) < 1e-5 and y.max() < 0.999     # not saturated


@pytest.mark.parametrize("name", models.NAMES)
def test_smelt_matches_onnxruntime(name):
    model = models.build(name)
    x = models.example_input(name, seed=1)
    (expected,) = run_ort(model, x)
    art = smelt.compile(model, name=name)
    got = art.run(x)["output"]
    assert got.shape == expected.shape
    assert np.max(np.abs(got - expected)) <= 1e-4
    # smelt's report counts the same multiply-accumulates (plus a little for pooling and adds)
    assert abs(art.report.macs / models.macs(model) - 1) < 0.02


def test_host_benchmark_row(tmp_path, monkeypatch):
    from bench import host
    monkeypatch.setattr(models, "CACHE", tmp_path)
    row = host.bench_model("fc_autoencoder", models.path("fc_autoencoder"), 3, tmp_path)
    assert "error" not in row and row["max_abs_diff"] <= 1e-4
    assert row["macs"] == row["smelt_macs"] == models.macs(models.build("fc_autoencoder"))
    assert row["smelt_c_ms"] > 0 and row["smelt_ms"] > 0 and row["ort_ms"] > 0
    # onnxruntime holds at least its 640-float output during the run
    assert row["ort_memory"]["peak_bytes"] >= row["ort_memory"]["output_bytes"] == 640 * 4
    meta = {"cpu": "cpu", "cores": 2, "loadavg": (0.0, 0.0, 0.0), "cflags": ["-O2"], "onnxruntime": "x"}
    assert host.table([row], meta).splitlines()[2].startswith("fc_autoencoder  264,192")
