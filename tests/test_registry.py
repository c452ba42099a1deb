import pytest

from gradkit.errors import ConfigError
from gradkit.registry import Registry


def test_duplicate_name_raises():
    reg = Registry("model")
    reg.register("mlp", 1)
    with pytest.raises(KeyError, match="already registered"):
        reg.register("mlp", 2)
    assert reg.get("mlp") == 1


def test_unknown_name_suggests_and_lists():
    reg = Registry("model")
    reg.register("mlp", 1)
    reg.register("cnn", 2)
    with pytest.raises(ConfigError, match=r"unknown model 'mpl' \(did you mean 'mlp'\?\).*cnn, mlp"):
        reg.get("mpl", key="model.name")


def test_real_registries_refuse_duplicates():
    from gradkit.models import MODELS, ModelEntry
    from gradkit.data import DATASETS

    with pytest.raises(KeyError):
        MODELS.register("mlp", ModelEntry(lambda c, s: None, object, ""))
    with pytest.raises(KeyError):
        DATASETS.register("digits", None)
