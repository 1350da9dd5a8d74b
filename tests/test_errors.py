"""Bad input gives a SmeltError that names the element at fault; the CLI prints one line, exits 2."""
import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

import smelt
from smelt.cli import main
from smelt.errors import ModelFormatError, NeedsConstantError, ShapeError, UnsupportedOpError


def one_node(op, inputs, outputs, shapes, opset=17, **attrs):
    vis = [helper.make_tensor_value_info(n, TensorProto.FLOAT, s) for n, s in zip(inputs, shapes)]
    g = helper.make_graph([helper.make_node(op, inputs, outputs, name="the_node", **attrs)], "g", vis,
                          [helper.make_empty_tensor_value_info(o) for o in outputs])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])


def test_unsupported_op_names_node_op_and_supported_list():
    m = one_node("Det", ["x"], ["y"], [[3, 3]])
    with pytest.raises(UnsupportedOpError) as e:
        smelt.compile(m)
    msg = str(e.value)
    assert "the_node" in msg and "Det" in msg and "opset 17" in msg and "Relu" in msg


def test_truncated_file_is_a_model_format_error(tmp_path):
    m = one_node("Relu", ["x"], ["y"], [[1, 4]])
    p = tmp_path / "m.onnx"
    p.write_bytes(m.SerializeToString()[:20])
    with pytest.raises(ModelFormatError):
        smelt.compile(p)


def test_not_onnx_is_a_model_format_error(tmp_path):
    p = tmp_path / "m.onnx"
    p.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(200)))
    with pytest.raises(ModelFormatError):
        smelt.compile(p)


def test_dynamic_non_batch_dim_names_the_input():
    m = one_node("Relu", ["x"], ["y"], [[1, "width"]])
    with pytest.raises(ShapeError, match="'x'.*--input-shape"):
        smelt.compile(m)


def test_symbolic_batch_is_frozen_to_one_and_input_shape_overrides():
    m = one_node("Relu", ["x"], ["y"], [["N", 4]])
    assert smelt.compile(m).graph["x"].shape == (1, 4)
    m = one_node("Relu", ["x"], ["y"], [["N", "W"]])
    art = smelt.compile(m, input_shapes={"x": [2, 5]})
    x = np.arange(-5, 5, dtype=np.float32).reshape(2, 5)
    np.testing.assert_array_equal(art.run({"x": x})["y"], np.maximum(x, 0))


def test_data_dependent_value_names_node_and_tensor():
    m = one_node("Clip", ["x", "lo"], ["y"], [[1, 4], []])
    with pytest.raises(NeedsConstantError) as e:
        smelt.compile(m)
    assert "the_node" in str(e.value) and "'lo'" in str(e.value)
    art = smelt.compile(m, freeze={"lo": np.float32(0.5)})
    x = np.array([[0, 1, 2, -1]], np.float32)
    np.testing.assert_array_equal(art.run({"x": x})["y"], np.maximum(x, 0.5))


def test_cli_error_is_one_line_exit_2(tmp_path, capsys):
    p = tmp_path / "bad.onnx"
    p.write_bytes(b"not a model at all")
    assert main(["compile", str(p), "-o", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("smelt: error:")
    assert not (tmp_path / "out").exists()


def test_cli_unsupported_op_exit_2(tmp_path, capsys):
    p = tmp_path / "det.onnx"
    onnx.save(one_node("Det", ["x"], ["y"], [[3, 3]]), p)
    assert main(["inspect", str(p)]) == 2
    assert "Det" in capsys.readouterr().err
