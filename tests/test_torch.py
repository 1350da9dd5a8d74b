"""PyTorch modules compile through torch.onnx and the ONNX front end."""
import numpy as np
import pytest

import smelt

torch = pytest.importorskip("torch", reason="the torch extra is installed by scripts/setup.sh")


class Net(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 8, 3, padding=1)
        self.bn = torch.nn.BatchNorm2d(8)
        self.dw = torch.nn.Conv2d(8, 8, 3, stride=2, padding=1, groups=8)
        self.fc = torch.nn.Linear(8 * 4 * 4, 5)

    def forward(self, x):
        x = torch.relu(self.bn(self.conv(x)))
        x = torch.nn.functional.relu6(self.dw(x))
        x = torch.nn.functional.max_pool2d(x, 2)
        return torch.softmax(self.fc(torch.flatten(x, 1)), dim=1)


def test_torch_module_compiles_and_matches_torch():
    torch.manual_seed(0)
    net = Net()
    with torch.no_grad():   # non-trivial batch-norm statistics
        net.bn.running_mean.uniform_(-1, 1)
        net.bn.running_var.uniform_(0.5, 2)
    net.eval()
    x = torch.randn(1, 3, 16, 16)
    art = smelt.compile(net, example_inputs=(x,))
    got = art.run([x.numpy()])
    with torch.no_grad():
        expected = net(x).numpy()
    np.testing.assert_allclose(next(iter(got.values())), expected, rtol=1e-4, atol=1e-6)
    assert "BatchNormalization" not in [n.op for n in art.graph.nodes]


def test_torch_module_needs_example_inputs():
    with pytest.raises(smelt.SmeltError, match="example_inputs"):
        smelt.compile(Net())
