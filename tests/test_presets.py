"""The articles' networks, exactly (issue 18 part 3). Each article class is written out here in
plain PyTorch as the article writes it; gradkit's preset must have the same layers in the same
order with the same shapes and parameter count, and, given the article model's weights, compute
the same function."""
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from gradkit.data import DataSpec
from gradkit.models import build

DIGITS = DataSpec("classification", "image", (1, 28, 28), 10)


class SimpleNN(nn.Module):  # the PyTorch article's MLP
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(28 * 28, 128)
        self.fc2 = nn.Linear(128, 64)
        self.fc3 = nn.Linear(64, 10)

    def forward(self, x):
        x = x.view(-1, 28 * 28)
        x = F.relu(self.fc1(x))
        x = F.relu(self.fc2(x))
        return self.fc3(x)


class CNNModel(nn.Module):  # the PyTorch article's CNN
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 32, 3)
        self.conv2 = nn.Conv2d(32, 64, 3)
        self.fc1 = nn.Linear(64 * 12 * 12, 128)
        self.fc2 = nn.Linear(128, 10)

    def forward(self, x):
        x = F.relu(self.conv1(x))
        x = F.relu(self.conv2(x))
        x = F.max_pool2d(x, 2)
        x = torch.flatten(x, 1)
        x = F.relu(self.fc1(x))
        return self.fc2(x)


class SimpleCNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 32, kernel_size=3)
        self.pool = nn.MaxPool2d(2, 2)
        self.fc1 = nn.Linear(32 * 13 * 13, 10)

    def forward(self, x):
        x = self.pool(F.relu(self.conv1(x)))
        x = x.view(-1, 32 * 13 * 13)
        return self.fc1(x)


class KerasMLP(nn.Module):  # Flatten, Dense(128, relu), Dropout(0.2), Dense(10)
    def __init__(self):
        super().__init__()
        self.dense = nn.Linear(784, 128)
        self.dropout = nn.Dropout(0.2)
        self.out = nn.Linear(128, 10)

    def forward(self, x):
        return self.out(self.dropout(F.relu(self.dense(torch.flatten(x, 1)))))


class KerasCifar(nn.Module):  # Conv32-Pool-Conv64-Pool-Conv64-Flatten-Dense64-Dense10, valid padding
    def __init__(self):
        super().__init__()
        self.c1, self.c2, self.c3 = nn.Conv2d(3, 32, 3), nn.Conv2d(32, 64, 3), nn.Conv2d(64, 64, 3)
        self.d1, self.d2 = nn.Linear(4 * 4 * 64, 64), nn.Linear(64, 10)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.c1(x)), 2)
        x = F.max_pool2d(F.relu(self.c2(x)), 2)
        x = F.relu(self.c3(x))
        return self.d2(F.relu(self.d1(torch.flatten(x, 1))))


class SimpleRNN(nn.Module):
    def __init__(self, input_size, hidden_size=20, num_layers=2, output_size=1, cell=nn.RNN):
        super().__init__()
        self.rnn = cell(input_size, hidden_size, num_layers, batch_first=True)
        self.fc = nn.Linear(hidden_size, output_size)

    def forward(self, x):
        out, _ = self.rnn(x)
        return self.fc(out[:, -1, :])


def same_network(article: nn.Module, ours: nn.Module, x: torch.Tensor,
                 article_x: torch.Tensor | None = None) -> int:
    """Layer by layer the same parameter shapes, the same total, and with the article's weights
    copied in order, the same outputs; returns the parameter count."""
    theirs = [(n, p.shape) for n, p in article.named_parameters()]
    mine = [(n, p.shape) for n, p in ours.named_parameters()]
    assert [s for _, s in mine] == [s for _, s in theirs], (mine, theirs)
    assert sum(p.numel() for p in ours.parameters()) == sum(p.numel() for p in article.parameters())
    with torch.no_grad():
        for p, q in zip(ours.parameters(), article.parameters()):
            p.copy_(q)
    article.eval(), ours.eval()
    torch.testing.assert_close(ours(x), article(x if article_x is None else article_x))
    return sum(p.numel() for p in ours.parameters())


def layer_kinds(model: nn.Module) -> list[str]:
    return [type(m).__name__ for m in model.modules() if not list(m.children())]


@pytest.mark.parametrize("preset, article, spec, count", [
    ("simple-nn", SimpleNN, DIGITS, 109_386),
    ("keras-mlp", KerasMLP, DIGITS, 101_770),
    ("cnn-model", CNNModel, DIGITS, 1_199_882),
    ("simple-cnn", SimpleCNN, DIGITS, 54_410),
    ("keras-cifar-cnn", KerasCifar, DataSpec("classification", "image", (3, 32, 32), 10), 122_570),
])
def test_image_presets_are_the_articles_networks(preset, article, spec, count):
    torch.manual_seed(0)
    ref, ours = article(), build({"name": preset}, spec)
    assert sum(p.numel() for p in ours.parameters()) == count
    same_network(ref, ours, torch.randn(3, *spec.input_shape))


def test_cnn_model_layers_in_the_articles_order():
    kinds = layer_kinds(build({"name": "cnn-model"}, DIGITS))
    assert kinds == ["Conv2d", "ReLU", "Conv2d", "ReLU", "MaxPool2d", "Flatten", "Linear", "ReLU", "Linear"]
    assert layer_kinds(build({"name": "simple-cnn"}, DIGITS)) == ["Conv2d", "ReLU", "MaxPool2d", "Flatten", "Linear"]


@pytest.mark.parametrize("preset, cell", [("simple-rnn", nn.RNN), ("simple-lstm", nn.LSTM)])
def test_recurrent_presets_are_the_articles_networks(preset, cell):
    torch.manual_seed(0)
    series = DataSpec("regression", "series", (30, 3), 1)
    count = same_network(SimpleRNN(3, cell=cell), build({"name": preset}, series), torch.randn(4, 30, 3))
    gates = 4 if cell is nn.LSTM else 1  # 2 layers of 20: (in x 20 + 20 x 20 + 2 x 20) per gate
    assert count == gates * ((3 * 20 + 400 + 40) + (20 * 20 + 400 + 40)) + 21
    # images are read row by row: 28 steps of 28 pixels
    images = torch.randn(4, 1, 28, 28)
    same_network(SimpleRNN(28, output_size=10, cell=cell), build({"name": preset}, DIGITS),
                 images, images.view(-1, 28, 28))


def test_pool_after_names_real_blocks():
    from gradkit.errors import ConfigError

    with pytest.raises(ConfigError, match="pool_after=\\[3\\]: blocks are numbered 1 to 2"):
        build({"name": "cnn", "channels": [8, 16], "pool_after": [3]}, DIGITS)
