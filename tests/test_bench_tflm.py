"""The TFLite benchmark (bench/tflm.py): its rows on two small shared models, measured for real."""
import pytest

from bench import tflm as bench


@pytest.mark.parametrize("name", ["hello_world_int8", "micro_speech_quantized"])
def test_row_bit_exact_and_smaller_arena(shared_models, tmp_path, name):
    row = bench.bench_model(name, shared_models / f"{name}.tflite", n_inputs=5, repeat=3, workdir=tmp_path)
    assert row["inputs"] == 5 and row["compared_bytes"] > 0
    assert row["mismatch_bytes"] == 0, row
    assert row["max_abs_diff"] is None            # int8 outputs: the byte count is the check
    assert row["arena_bytes"] < row["tflm_head"] + row["tflm_tail"], row
    assert row["tflm_total"] == row["tflm_head"] + row["tflm_tail"]
    assert row["smelt_io_bytes"] == row["arena_bytes"] + row["input_bytes"] + row["output_bytes"]
    for key in ("smelt_ms", "smelt_c_ms", "tflm_ms", "litert_ms"):
        assert row[key] > 0, (key, row)
    assert row["litert_error"] is None


def test_table_lists_every_column(shared_models, tmp_path):
    row = bench.bench_model("hello_world_int8", shared_models / "hello_world_int8.tflite",
                            n_inputs=2, repeat=1, workdir=tmp_path)
    meta = {"cpu": "cpu", "cores": 2, "loadavg": (0.0, 0.0, 0.0), "cflags": ["-O2"], "tflite_micro": "x",
            "ai_edge_litert": "y", "repeat": 1, "inputs": 2}
    text = bench.table([row], meta)
    header, _, line = text.splitlines()[:3]
    assert all(h in header for h, _ in bench.COLUMNS)
    assert line.startswith("hello_world_int8") and "0 of 2" in line
    assert "64-bit pointers" in text and "noisy" in text
