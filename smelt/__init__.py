"""smelt: compile neural networks into dependency-free C for microcontrollers.

    art = smelt.compile("model.onnx")        # or a torch.nn.Module with example_inputs=(x,)
    art.run({"input": x})                    # host build, called through ctypes
    print(art.report)
"""
from __future__ import annotations

from .api import Artifact, compile, load
from .errors import ModelFormatError, PlanError, ShapeError, SmeltError, UnsupportedOpError
from .library import LibraryArtifact, compile_library

__all__ = ["compile", "compile_library", "load", "Artifact", "LibraryArtifact", "SmeltError", "ModelFormatError", "ShapeError",
           "UnsupportedOpError", "PlanError"]
__version__ = "0.1.0"
