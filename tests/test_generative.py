"""Generative models and tasks: autoencoder, VAE, GAN (issue 4)."""
import json
import math

import numpy as np
import pytest
import torch

import gradkit as gk
from gradkit import config as C
from gradkit import engine
from gradkit.data import DataSpec
from gradkit.errors import ConfigError
from gradkit.models import build
from gradkit.models.vae import kl_divergence
from gradkit.tasks import build as build_task

from conftest import needs_fashion

QUIET = {"verbose": False}
FASHION_RECIPES = ["fashion-autoencoder", "fashion-denoising-ae", "fashion-vae", "fashion-conv-vae",
                   "fashion-gan", "fashion-dcgan"]
IMAGES = DataSpec("reconstruct", "image", (1, 8, 8), 10)


def digits01(n: int = 256) -> torch.Tensor:
    """n of scikit-learn's 8x8 digits with pixels in [0, 1]: real structure, loaded in ms."""
    return gk.data.load("digits").train.x[:n].float() / 16


def _steps(task, x: torch.Tensor, steps: int) -> list[float]:
    optimizers = (task.configure_optimizers(C.OptimConfig(lr=2e-3))
                  if hasattr(task, "configure_optimizers")
                  else {"model": torch.optim.Adam(task.model.parameters(), lr=2e-3)})

    def step(loss, name):
        optimizers[name].zero_grad()
        loss.backward()
        optimizers[name].step()

    return [{k: float(v) for k, v in task.train_step((x, torch.zeros(len(x))), step).items()}
            for _ in range(steps)]


@pytest.mark.parametrize("model,task", [
    ({"name": "autoencoder"}, {"name": "reconstruct"}),
    ({"name": "autoencoder", "arch": "conv", "channels": [16, 32]}, {"name": "reconstruct", "noise": 0.2}),
    ({"name": "autoencoder", "latent": 8}, {"name": "reconstruct", "loss": "bce"}),
    ({"name": "vae"}, {"name": "vae"}),
    ({"name": "vae", "arch": "conv", "likelihood": "gaussian"}, {"name": "vae", "beta": 0.5}),
])
def test_a_few_steps_lower_the_loss(model, task):
    torch.manual_seed(0)
    net = build(model, IMAGES)
    t = build_task(C.TaskConfig(**task), net, IMAGES)
    history = _steps(t, digits01(), 60)
    first, last = np.mean([h["loss"] for h in history[:5]]), np.mean([h["loss"] for h in history[-5:]])
    assert last < 0.8 * first, (first, last)
    x = digits01(5)
    assert net.encode(x).shape == (5, net.latent)
    assert net.reconstruct(x).shape == x.shape and 0 <= net.reconstruct(x).min() <= net.reconstruct(x).max() <= 1


@pytest.mark.parametrize("arch", ["mlp", "dcgan"])
def test_gan_steps_both_networks_and_samples_in_unit_range(arch):
    torch.manual_seed(0)
    net = build({"name": "gan", "arch": arch, "channels": 8, "hidden": 32}, IMAGES)
    task = build_task(C.TaskConfig(name="gan", label_smoothing=0.1), net, IMAGES)
    g0 = [p.clone() for p in net.generator.parameters()]
    d0 = [p.clone() for p in net.discriminator.parameters()]
    history = _steps(task, digits01(), 30)
    assert all(not torch.equal(a, b) for a, b in zip(g0, net.generator.parameters()))
    assert all(not torch.equal(a, b) for a, b in zip(d0, net.discriminator.parameters()))
    # D learns to tell the real digits from the early generator's output
    assert history[-1]["d_real"] > history[-1]["d_fake"]
    net.eval()
    samples = net.sample(6, torch.Generator().manual_seed(1))
    assert samples.shape == (6, 1, 8, 8) and 0 <= samples.min() and samples.max() <= 1
    torch.testing.assert_close(samples, net.sample(6, torch.Generator().manual_seed(1)))


def test_gan_generator_step_leaves_discriminator_gradients_clean():
    net = build({"name": "gan", "hidden": 16}, IMAGES)
    task = build_task(C.TaskConfig(name="gan"), net, IMAGES)
    seen = {}

    def step(loss, name):  # record what each step's backward leaves on D
        loss.backward()
        seen[name] = [p.grad is not None for p in net.discriminator.parameters()]
        for p in net.parameters():
            p.grad = None

    task.train_step((digits01(16), torch.zeros(16)), step)
    assert all(seen["discriminator"]) and not any(seen["generator"])


def test_elbo_is_rec_plus_kl_and_kl_matches_monte_carlo():
    torch.manual_seed(0)
    net = build({"name": "vae", "latent": 4}, IMAGES)
    task = build_task(C.TaskConfig(name="vae"), net, IMAGES)
    x = torch.bernoulli(digits01(64))
    with torch.inference_mode():
        task.eval_step((x, torch.zeros(64)))
        scalars, _ = task.eval_end()
    assert scalars["nelbo"] == pytest.approx(scalars["rec"] + scalars["kl"], rel=1e-6)
    assert scalars["loss"] == pytest.approx(scalars["nelbo"], rel=1e-6)  # beta = 1
    # analytic KL(q || N(0, I)) against a Monte-Carlo estimate E_q[log q(z) - log p(z)]
    mu, logvar = torch.randn(3, 4), torch.randn(3, 4) * 0.5
    q = torch.distributions.Normal(mu, (0.5 * logvar).exp())
    z = q.sample((200_000,))  # (S, 3, 4)
    p = torch.distributions.Normal(0.0, 1.0)
    mc = (q.log_prob(z) - p.log_prob(z)).sum(-1).mean(0)
    torch.testing.assert_close(kl_divergence(mu, logvar), mc, atol=0.02, rtol=0.01)
    # and against torch's closed form
    torch.testing.assert_close(kl_divergence(mu, logvar),
                               torch.distributions.kl_divergence(q, p).sum(-1))


def test_vae_evaluation_is_a_fixed_binarisation_and_beta_weights_kl():
    torch.manual_seed(0)
    net = build({"name": "vae", "latent": 4}, IMAGES).eval()
    task = build_task(C.TaskConfig(name="vae", beta=0.25), net, IMAGES)
    x = digits01(64)
    runs = []
    for _ in range(2):
        with torch.inference_mode():
            task.eval_step((x, torch.zeros(64)))
            runs.append(task.eval_end()[0])
    assert runs[0] == runs[1]  # the same binarisation and z on every pass
    assert runs[0]["loss"] == pytest.approx(runs[0]["rec"] + 0.25 * runs[0]["kl"], rel=1e-6)
    # Bernoulli rec is in nats per image: at most 64 pixels * log(huge) and at least 0
    assert 0 < runs[0]["rec"] < 64 * 10


def test_gan_resume_restores_both_networks_and_optimisers(tmp_path, monkeypatch):
    from gradkit import checkpoint
    from gradkit.training import loop

    args = dict(data={"name": "digits", "limit": 300}, model={"name": "gan", "hidden": 32},
                task={"name": "gan"}, optim={"lr": 2e-4, "betas": [0.5, 0.999]},
                train={"epochs": 2, "monitor": "epoch", "deterministic": True, "batch_size": 32},
                output={"report": False}, **QUIET)
    full = gk.train(out=tmp_path / "full", **args)

    real = loop._after_epoch

    def interrupt_after_first(state, record, *rest):  # as if killed right after epoch 1's checkpoint
        out = real(state, record, *rest)
        if record["epoch"] == 1:
            raise KeyboardInterrupt
        return out

    monkeypatch.setattr(loop, "_after_epoch", interrupt_after_first)
    with pytest.raises(KeyboardInterrupt):
        gk.train(out=tmp_path / "cut", **args)
    monkeypatch.setattr(loop, "_after_epoch", real)
    first = checkpoint.load(tmp_path / "cut" / "checkpoints" / "last.pt")
    assert set(first["optimizers"]) == {"discriminator", "generator"}
    resumed = gk.resume(tmp_path / "cut", verbose=False)

    a = checkpoint.load(full.dir / "checkpoints" / "last.pt")
    b = checkpoint.load(resumed.dir / "checkpoints" / "last.pt")
    batches = math.ceil(json.loads((full.dir / "run.json").read_text())["samples"]["train"] / 32)
    for name in ("discriminator", "generator"):  # one step of each per batch, 2 epochs
        assert {int(s["step"]) for s in a["optimizers"][name]["state"].values()} == {2 * batches}
        assert b["optimizers"][name]["state"].keys() == a["optimizers"][name]["state"].keys()
        for k, state in a["optimizers"][name]["state"].items():
            assert int(b["optimizers"][name]["state"][k]["step"]) == int(state["step"])
            torch.testing.assert_close(b["optimizers"][name]["state"][k]["exp_avg"], state["exp_avg"])
    for k, w in a["models"]["model"].items():
        torch.testing.assert_close(b["models"]["model"][k], w, msg=k)
    drop = {"time", "epoch_seconds", "samples_per_s"}
    hist = [[{k: v for k, v in json.loads(line).items() if k not in drop}
             for line in (d / "metrics.jsonl").read_text().splitlines()] for d in (full.dir, resumed.dir)]
    assert hist[0] == hist[1]
    for d in (full.dir, resumed.dir):  # the per-epoch grids of both epochs survive the resume
        assert sorted(p.name for p in (d / "artifacts" / "epochs").iterdir()) == \
            ["samples-0001.png", "samples-0002.png"]


def test_digits_run_writes_the_artifacts_and_report(tmp_path, monkeypatch):
    monkeypatch.setenv("GRADKIT_CACHE", str(tmp_path / "cache"))  # the reference classifier goes here
    run = gk.train(data={"name": "digits"}, model={"name": "vae", "arch": "conv", "channels": [8, 16]},
                   task={"name": "vae", "fid": 500}, train={"epochs": 2, "monitor": "val/nelbo"},
                   out=tmp_path / "run", **QUIET)
    # FID of the samples (a digits-cnn trained into the cache), beside the real-vs-real floor
    quality = json.loads((run.dir / "artifacts" / "quality.json").read_text())
    assert quality["classifier_run"].startswith(str(tmp_path / "cache"))
    assert quality["n"] == len(gk.data.load("digits").test)  # 500 asked, the test split is smaller
    assert run.metrics["test/fid"] == quality["fid"] > run.metrics["test/fid_floor"] >= 0
    assert 1 <= run.metrics["test/classes_covered"] <= 10
    s = np.load(run.dir / "artifacts" / "samples.npz")
    assert s["x"].shape == s["recon"].shape == (16, 1, 8, 8)
    assert s["latent"].shape[1] == 20 and s["latent_2d"].shape == (len(s["latent"]), 2)
    assert len(s["latent_y"]) == len(s["latent"]) == len(gk.data.load("digits").test)
    assert s["interp"].shape == (10, 1, 8, 8) and s["samples"].shape == (64, 1, 8, 8)
    assert s["samples"].min() >= 0 and s["samples"].max() <= 1
    html = (run.dir / "report.html").read_text()
    for text in ('<section id="generative">', "Samples per epoch", "Latent space", "Interpolation",
                 "negative ELBO", "Sample quality (FID)", "(the floor)", quality["classifier_run"]):
        assert text in html, text
    # the run reloads, and its model methods are what commands need
    loaded = gk.load(run.dir)
    x = gk.data.normalize(gk.data.load("digits").test.x[:3], loaded.spec)  # [0, 1] pixels
    assert 0 <= x.min() and x.max() <= 1
    assert loaded.model.reconstruct(x).shape == (3, 1, 8, 8)
    assert loaded.model.sample(2).shape == (2, 1, 8, 8)


def test_bad_options_are_clear_errors():
    with pytest.raises(ConfigError, match="needs image data"):
        build({"name": "autoencoder", "arch": "conv"}, DataSpec("regression", "tabular", (10,)))
    with pytest.raises(ConfigError, match="divisible by 4"):
        build({"name": "gan", "arch": "dcgan"}, DataSpec("gan", "image", (1, 30, 30)))
    with pytest.raises(ConfigError, match="models images"):
        gk.train(data={"name": "iris"}, model={"name": "autoencoder"}, task={"name": "reconstruct"},
                 **QUIET)
    with pytest.raises(ConfigError, match="task.noise applies to task.name=reconstruct only"):
        engine.resolve("fashion-vae", overrides=["task.noise=0.2"])
    with pytest.raises(ConfigError, match="task.fid scores generated images"):
        engine.resolve("fashion-autoencoder", overrides=["task.fid=10000"])
    with pytest.raises(ConfigError, match="too few for a stable FID"):
        engine.resolve("fashion-gan", overrides=["task.fid=64"])
    with pytest.raises(ConfigError, match="task.beta applies to task.name=vae only"):
        engine.resolve("fashion-gan", overrides=["task.beta=2"])
    with pytest.raises(ConfigError, match="needs model.name=gan"):
        build_task(C.TaskConfig(name="gan"), build({"name": "vae"}, IMAGES), IMAGES)
    with pytest.raises(ConfigError, match="use mse or bce"):
        build_task(C.TaskConfig(name="reconstruct", loss="huber"), build({"name": "autoencoder"}, IMAGES),
                   IMAGES)


@needs_fashion
@pytest.mark.parametrize("recipe", FASHION_RECIPES)
def test_recipe_smoke(recipe, tmp_path):
    run = gk.train(recipe, out=tmp_path / recipe, overrides=["data.limit=300", "train.epochs=1", "task.fid=0"],
                   **QUIET)
    assert all(math.isfinite(v) for v in run.metrics.values())
    assert (run.dir / "artifacts" / "samples.npz").is_file()
    assert '<section id="generative">' in (run.dir / "report.html").read_text()
    if run.spec.task != "reconstruct":
        assert (run.dir / "artifacts" / "epochs" / "samples-0001.png").is_file()


@needs_fashion
@pytest.mark.parametrize("recipe", ["fashion-autoencoder", "fashion-vae"])
def test_real_fashion_reconstructions_beat_the_mean_image(recipe, tmp_path):
    """3,000 training images, 3 epochs of batch 32: test reconstructions at most half the mean
    image's error (full recipes reach about a tenth: 0.009 against 0.087)."""
    run = gk.train(recipe, out=tmp_path / "run", output={"report": False}, **QUIET,
                   overrides=["data.limit=3000", "train.epochs=3", "train.batch_size=32", "task.fid=0"])
    data = run.data()  # built for the run's task: pixels in [0, 1]
    train = gk.data.normalize(data.train.x, data.spec)
    test = gk.data.normalize(data.test.x[:2000], data.spec)
    baseline = float((test - train.mean(0, keepdim=True)).pow(2).mean())
    with torch.inference_mode():
        mse = float((run.model.reconstruct(test) - test).pow(2).mean())
    assert mse < 0.5 * baseline, (mse, baseline)
    if recipe == "fashion-autoencoder":
        assert run.metrics["test/mse"] < 0.5 * run.metrics["baseline/mean/mse"]


# ---------------------------------------------------------------- commands: sample, reconstruct, anomaly


@pytest.fixture(scope="module")
def digit_runs(tmp_path_factory):
    """A 3-epoch MLP autoencoder and a 1-epoch MLP GAN on scikit-learn's digits."""
    root = tmp_path_factory.mktemp("gencli")
    common = {"train": {"epochs": 3, "monitor": "val/loss", "threads": 1}, "output": {"report": False}}
    ae = gk.train(data={"name": "digits"}, model={"name": "autoencoder", "latent": 8},
                  task={"name": "reconstruct"}, out=root / "ae", **common, **QUIET)
    gan = gk.train(data={"name": "digits"}, model={"name": "gan"}, task={"name": "gan"},
                   train={"epochs": 1, "monitor": "epoch", "threads": 1}, output={"report": False},
                   out=root / "gan", **QUIET)
    return ae, gan, root


def _png(path) -> np.ndarray:
    from PIL import Image

    return np.asarray(Image.open(path))


def test_cli_sample_writes_an_image_grid_and_a_seed_repeats_it(digit_runs):
    from typer.testing import CliRunner

    from gradkit.cli import app

    _, gan, root = digit_runs
    runner = CliRunner()
    paths = [root / "a.png", root / "b.png", root / "c.png"]
    for path, seed in zip(paths, (7, 7, 8)):
        out = runner.invoke(app, ["sample", str(gan.dir), "-n", "10", "--out", str(path), "--seed", str(seed)])
        assert out.exit_code == 0, out.output
    a, b, c = (_png(p) for p in paths)
    assert a.shape == (3 * 9 + 1, 4 * 9 + 1)  # 10 images of 8x8: 3 rows of 4 columns, 1-pixel gaps
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    bad = runner.invoke(app, ["sample", str(gan.dir), "-n", "0"])
    assert bad.exit_code == 2 and "between 1 and 10000" in bad.output


def test_cli_reconstruct_reads_image_files_and_scores_them(digit_runs):
    from PIL import Image
    from typer.testing import CliRunner

    from gradkit.cli import app

    ae, gan, root = digit_runs
    raw = gk.data.load("digits").test.x[:2, 0].numpy().astype(np.int64)  # (2, 8, 8), 0..16
    files = []
    for i, img in enumerate(raw):
        files.append(root / f"digit{i}.png")
        Image.fromarray((img * 255 // 16).astype(np.uint8)).save(files[-1])
    out_png = root / "recon.png"
    out = CliRunner().invoke(app, ["reconstruct", str(ae.dir), *map(str, files), "--out", str(out_png)])
    assert out.exit_code == 0, out.output
    x = torch.as_tensor(raw[:, None]).float() / 16
    with torch.inference_mode():
        expected = (ae.model.reconstruct(x).clamp(0, 1) - x).pow(2).flatten(1).mean(1)
    printed = [float(line.split("error ")[1].split()[0]) for line in out.output.splitlines() if "error" in line]
    np.testing.assert_allclose(printed, expected.numpy(), atol=2e-3)  # PNG rounding of 16 grey levels
    assert _png(out_png).shape == (2 * 9 + 1, 2 * 9 + 1)
    refused = CliRunner().invoke(app, ["reconstruct", str(gan.dir), str(files[0])])
    assert refused.exit_code == 2 and "cannot reconstruct images" in " ".join(refused.output.split())
    (root / "broken.png").write_bytes(b"not a png")
    broken = CliRunner().invoke(app, ["reconstruct", str(ae.dir), str(root / "broken.png")])
    assert broken.exit_code == 2 and "is not a readable image" in " ".join(broken.output.split())


def test_cli_anomaly_ranks_the_test_images_by_reconstruction_error(digit_runs):
    from typer.testing import CliRunner

    from gradkit.cli import app
    from gradkit.sampling import anomaly_scores

    ae, gan, root = digit_runs
    s = anomaly_scores(gk.load(ae.dir), top=5, out=root / "worst.png")
    test = gk.data.load("digits").test
    x = test.x.float() / 16
    with torch.inference_mode():
        errors = (ae.model.reconstruct(x) - x).pow(2).flatten(1).mean(1)
    assert s["count"] == len(test)
    assert [w["index"] for w in s["worst"]] == errors.argsort(descending=True)[:5].tolist()
    np.testing.assert_allclose([w["score"] for w in s["worst"]], errors.sort(descending=True).values[:5],
                               rtol=1e-4)
    assert abs(s["mean"] - float(errors.mean())) < 1e-5
    assert _png(root / "worst.png").shape == (2 * 9 + 1, 5 * 9 + 1)
    out = CliRunner().invoke(app, ["anomaly", str(ae.dir), "--top", "3", "--out", str(root / "w3.png")])
    assert out.exit_code == 0 and "3 worst reconstructed" in out.output and "mean error per class" in out.output
    refused = CliRunner().invoke(app, ["anomaly", str(gan.dir)])
    assert refused.exit_code == 2 and "cannot score images by reconstruction" in " ".join(refused.output.split())
