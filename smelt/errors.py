"""Every failure a user can cause is a SmeltError that names the element at fault and what to do."""


class SmeltError(Exception):
    """Base class: the CLI prints str(error) on one line and exits 2."""


class ModelFormatError(SmeltError):
    """The file is not a model smelt can read (truncated, wrong format, inconsistent)."""


class UnsupportedOpError(SmeltError):
    def __init__(self, node: str, op: str, opset: int | None = None, supported=(), detail: str = ""):
        self.node, self.op, self.opset = node, op, opset
        where = f"node '{node}': op {op}" + (f" (opset {opset})" if opset else "")
        msg = f"{where} is not supported" + (f": {detail}" if detail else "")
        if supported:
            msg += f"; supported ops: {', '.join(sorted(supported))}"
        super().__init__(msg)


class ShapeError(SmeltError):
    """A shape that is dynamic, data-dependent or inconsistent."""

    def __init__(self, message: str, tensor: str | None = None):
        self.tensor = tensor
        super().__init__(message)


class NeedsConstantError(ShapeError):
    """An op needs the value of a tensor at compile time (e.g. a Reshape's shape)."""

    def __init__(self, node: str, op: str, tensor: str):
        super().__init__(
            f"node '{node}' ({op}) needs the value of tensor '{tensor}' at compile time, but it is "
            f"computed at run time (data-dependent shape); make it a constant or freeze it with "
            f"compile(..., freeze={{'{tensor}': value}})", tensor)
        self.node = node


class PlanError(SmeltError):
    """The memory plan is invalid or does not fit a budget."""


class ToolchainError(SmeltError):
    """A compiler or emulator is missing or failed."""


class GuestFaultError(ToolchainError):
    """The program crashed on the target (a fault, a trap, an abort)."""


class GuestTimeoutError(ToolchainError):
    """The program did not finish within its time limit (a hang); the emulator was killed."""
