"""Every recipe YAML under configs/ parses, and the config loader names bad keys and values."""

from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

from expander.config import ConfigError, load_config

CONFIGS = Path(__file__).resolve().parents[1] / "configs"


@pytest.mark.parametrize("path", sorted(CONFIGS.rglob("*.y*ml")), ids=lambda p: str(p.relative_to(CONFIGS)))
def test_every_config_parses(path):
    data = yaml.safe_load(path.read_text())
    assert isinstance(data, dict) and data, f"{path} must hold a non-empty mapping"


def test_there_are_configs():
    assert list(CONFIGS.rglob("*.yaml"))


@dataclass
class Render:
    height: int = 512


@dataclass
class Recipe:
    steps: int = 1
    lr: float = 1e-4
    name: str = "x"
    flag: bool = False
    tags: list[str] = field(default_factory=list)
    render: Render = field(default_factory=Render)


def test_yaml_then_overrides(tmp_path):
    path = tmp_path / "r.yaml"
    path.write_text("steps: 3\nlr: 2.0e-5\nrender:\n  height: 256\n")
    cfg = load_config(Recipe, path, ["--steps", "5", "--flag", "--tags=a,b", "--render.height", "128"])
    assert cfg == Recipe(steps=5, lr=2e-5, flag=True, tags=["a", "b"], render=Render(height=128))


@pytest.mark.parametrize(
    "text, overrides, message",
    [
        ("stepz: 3\n", [], "unknown key(s) stepz"),
        ("steps: three\n", [], "steps must be an integer"),
        ("- 1\n- 2\n", [], "must hold a mapping"),
        ("steps: [\n", [], "not valid YAML"),
        ("", ["--flag", "maybe"], "flag must be true or false"),
        ("", ["--render.width", "3"], "unknown key(s) render.width"),
        ("", ["oops"], "expected an override like --key value"),
    ],
)
def test_bad_configs_name_the_problem(tmp_path, text, overrides, message):
    path = tmp_path / "r.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_config(Recipe, path, overrides)
    assert message in str(info.value)


def test_missing_config_file(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(Recipe, tmp_path / "nope.yaml")
