"""PyTorch module -> ONNX (torch.onnx, TorchScript exporter) -> the ONNX front end."""
from __future__ import annotations

import io
import warnings

from ..errors import ModelFormatError, SmeltError

OPSET = 17


def to_onnx(module, example_inputs, opset: int = OPSET):
    try:
        import onnx
        import torch
    except ImportError:
        raise SmeltError("compiling a PyTorch module needs torch: pip install 'smelt[torch]'") from None
    if example_inputs is None:
        raise SmeltError("compiling a PyTorch module needs example_inputs=(tensor, ...) to fix its shapes")
    if isinstance(example_inputs, torch.Tensor):
        example_inputs = (example_inputs,)
    example_inputs = tuple(torch.as_tensor(x) for x in example_inputs)
    names = ["input"] if len(example_inputs) == 1 else [f"input{i}" for i in range(len(example_inputs))]
    buf = io.BytesIO()
    was_training = module.training
    module.eval()
    try:
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")
            torch.onnx.export(module, example_inputs, buf, dynamo=False, opset_version=opset,
                              input_names=names, do_constant_folding=True)
    except Exception as e:
        raise ModelFormatError(f"torch.onnx could not export {type(module).__name__}: {e}") from None
    finally:
        module.train(was_training)
    return onnx.load_model_from_string(buf.getvalue())
