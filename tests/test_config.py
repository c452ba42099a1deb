import pytest
import yaml

from gradkit import config as C
from gradkit import engine
from gradkit.errors import ConfigError


def test_overrides_are_typed():
    cfg = engine.resolve("fashion-mlp", overrides=["optim.lr=3e-4", "train.epochs=10",
                                              "model.dropout=0.2", "model.hidden=[256, 128]"])
    assert cfg.optim.lr == pytest.approx(3e-4) and isinstance(cfg.optim.lr, float)
    assert cfg.train.epochs == 10
    assert cfg.model["dropout"] == 0.2 and cfg.model["hidden"] == [256, 128]


def test_unknown_key_suggests():
    with pytest.raises(ConfigError, match=r"unknown key 'train.epoch' \(did you mean 'train.epochs'\?\)"):
        engine.resolve("fashion-mlp", overrides=["train.epoch=3"])


def test_unknown_section_suggests():
    with pytest.raises(ConfigError, match=r"unknown key 'optimm' \(did you mean 'optim'\?\)"):
        engine.resolve("fashion-mlp", overrides=["optimm.lr=0.1"])


def test_unknown_model_key_suggests():
    with pytest.raises(ConfigError, match=r"unknown key 'model.hiden' \(did you mean 'model.hidden'\?\)"):
        engine.resolve("fashion-mlp", overrides=["model.hiden=[3]"])


def test_wrong_type_names_key_and_value():
    with pytest.raises(ConfigError, match=r"train.epochs: .*valid integer.*'ten'"):
        engine.resolve("digits-mlp", overrides=["train.epochs=ten"])


def test_out_of_range_value():
    with pytest.raises(ConfigError, match=r"model.dropout: .*less than 1"):
        engine.resolve("digits-mlp", overrides=["model.dropout=2"])


@pytest.mark.parametrize("override, message", [
    ("model.name=mpl", r"model.name: unknown model 'mpl' \(did you mean 'mlp'\?\)"),
    ("data.name=fashion-mnsit", r"data.name: unknown data set 'fashion-mnsit' \(did you mean 'fashion-mnist'\?\)"),
    ("optim.name=adamm", r"optim.name: 'adamm' is not one of sgd, rmsprop, adam, adamw \(did you mean 'adam'\?\)"),
    ("task.name=clasification", r"unknown task 'clasification' \(did you mean 'classification'\?\)"),
    ("train.device=gpu", r"train.device: .*auto, cpu, cuda"),
])
def test_unknown_names(override, message):
    with pytest.raises(ConfigError, match=message):
        engine.resolve("digits-mlp", overrides=[override])


def test_unknown_recipe_suggests():
    with pytest.raises(ConfigError, match=r"unknown recipe 'fashoin-mlp' \(did you mean 'fashion-mlp'\?\)"):
        engine.resolve("fashoin-mlp")


def test_bad_override_syntax():
    with pytest.raises(ConfigError, match="KEY=VALUE"):
        engine.resolve("digits-mlp", overrides=["train.epochs"])


def test_user_file_with_base_and_round_trip(tmp_path):
    path = tmp_path / "my_experiment.yaml"
    path.write_text("base: digits-mlp\nmodel: {hidden: [16]}\ntrain: {epochs: 3}\n")
    cfg = engine.resolve(file=path)
    assert cfg.data.name == "digits" and cfg.model["hidden"] == [16] and cfg.train.epochs == 3
    dumped = tmp_path / "config.yaml"
    dumped.write_text(C.dump(cfg))
    assert engine.load_file(dumped) == cfg  # the resolved config reloads exactly


def test_user_file_errors_name_the_file(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("train: [1, 2\n")
    with pytest.raises(ConfigError, match="bad.yaml is not valid YAML"):
        engine.resolve(file=path)
    with pytest.raises(ConfigError, match="config file not found"):
        engine.resolve(file=tmp_path / "missing.yaml")


@pytest.mark.parametrize("name", C.recipe_names())
def test_every_recipe_validates_and_describes_itself(name):
    cfg = engine.resolve(name)
    assert cfg.description and cfg.reproduces
    raw = yaml.safe_load(C.dump(cfg))
    assert raw["name"] == name


def test_public_key_names_are_kept():
    cfg = engine.resolve("digits-mlp", overrides=["seed=3", "data.name=digits", "data.path=x.csv",
                                             "data.dir=/tmp", "train.epochs=2", "train.batch_size=8",
                                             "optim.name=sgd", "optim.lr=0.1", "optim.weight_decay=1e-4"])
    assert (cfg.seed, cfg.data.dir, cfg.train.batch_size, cfg.optim.weight_decay) == (3, "/tmp", 8, 1e-4)
