"""Both config-driven trainers read their TOML and `--set` overrides through one helper."""

from __future__ import annotations

import pytest

from evrt.errors import ConfigError
from evrt.models import depth_train
from evrt.models.prime import train as prime_train

TRAINERS = [(depth_train.load_config, "configs/depth_train.toml"),
            (prime_train.load_config, "configs/prime_train.toml")]


@pytest.mark.parametrize("load, path", TRAINERS)
def test_overrides_missing_file_bad_toml_and_bad_set(load, path, tmp_path):
    cfg = load(path, ["train.epochs=2", "train.out=runs/x"])
    assert cfg["train"]["epochs"] == 2 and cfg["train"]["out"] == "runs/x"
    with pytest.raises(ConfigError, match="does not exist") as err:
        load(tmp_path / "absent.toml")
    assert err.value.key == "--config"
    broken = tmp_path / "broken.toml"
    broken.write_text("[train\nepochs = 1\n")
    with pytest.raises(ConfigError, match="broken.toml") as err:
        load(broken)
    assert err.value.key == "--config"
    for bad in ("train.epochs", "epochs=2", "optimiser.lr=1"):
        with pytest.raises(ConfigError, match="--set expects") as err:
            load(path, [bad])
        assert err.value.key == bad
