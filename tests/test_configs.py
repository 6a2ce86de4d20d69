"""Every recipe YAML under configs/ loads into its dataclass, and the config loader names bad keys and values."""

import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

from expander.config import ConfigError, config_help, field_help, load_command_line, load_config

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
YAMLS = sorted(CONFIGS.rglob("*.y*ml"))
TRL_DIRS = ("sft", "grpo")


def _config_class(path: Path):
    """The dataclass a YAML under configs/ is made of (None for the TRL and accelerate ones)."""
    from expander.commands.expand import ExpandCommandConfig
    from expander.eval.config import EvalConfig
    from expander.rewards.config import RewardsConfig
    from expander.serve.config import ServeConfig
    from expander.train.synth import SynthConfig

    section = path.relative_to(CONFIGS).parts[0]
    if section.startswith("serve"):
        return ServeConfig
    return {"expand": ExpandCommandConfig, "eval": EvalConfig, "rewards": RewardsConfig, "synth": SynthConfig}.get(
        section
    )


def _rel(path: Path) -> str:
    return str(path.relative_to(CONFIGS))


@pytest.mark.parametrize("path", YAMLS, ids=_rel)
def test_every_config_parses(path):
    data = yaml.safe_load(path.read_text())
    assert isinstance(data, dict) and data, f"{path} must hold a non-empty mapping"


def _section(path: Path) -> str:
    """The command a YAML under configs/ is for: its folder, or for a top-level file its name up to `_`."""
    rel = path.relative_to(CONFIGS)
    return rel.parts[0] if len(rel.parts) > 1 else rel.stem.split("_")[0]


def test_there_are_configs():
    """Every command that reads a recipe has one, and the tests above see every YAML under configs/, nested
    folders included (they run over `YAMLS`; a file they missed would never be checked)."""
    on_disk = sorted(
        Path(root) / name for root, _, names in os.walk(CONFIGS) for name in names if name.endswith((".yaml", ".yml"))
    )
    assert YAMLS == on_disk, f"not tested: {[_rel(p) for p in on_disk if p not in YAMLS]}"
    commands = {"accelerate", "eval", "expand", "grpo", "rewards", "serve", "sft", "synth"}
    sections = {_section(p) for p in YAMLS}
    assert sections == commands, f"no recipe for {sorted(commands - sections)}; unknown {sorted(sections - commands)}"


def test_every_config_has_a_loader():
    for path in YAMLS:
        section = path.relative_to(CONFIGS).parts[0]
        assert _config_class(path) or section in (*TRL_DIRS, "accelerate"), f"nothing loads {_rel(path)}"


def _assert_holds(value, loaded, key: str) -> None:
    """`loaded` (a config, or a part of it) holds the YAML `value`: every key of a mapping, recursively into
    sections (dataclasses or dicts), every item of a list, and every scalar equal."""
    if isinstance(value, dict):
        for name, item in value.items():
            if dataclasses.is_dataclass(loaded):
                assert hasattr(loaded, name), f"{key}{name}: not loaded"
                _assert_holds(item, getattr(loaded, name), f"{key}{name}.")
            else:
                assert isinstance(loaded, dict) and name in loaded, f"{key}{name}: not loaded ({loaded!r})"
                _assert_holds(item, loaded[name], f"{key}{name}.")
    elif isinstance(value, list):
        assert isinstance(loaded, (list, tuple)) and len(loaded) == len(value), (
            f"{key.rstrip('.')}: {len(value)} items in the YAML, {loaded!r} loaded"
        )
        for i, (item, got) in enumerate(zip(value, loaded)):
            _assert_holds(item, got, f"{key.rstrip('.')}[{i}].")
    else:
        assert loaded == value, f"{key.rstrip('.')}: {value!r} in the YAML, {loaded!r} loaded"


@pytest.mark.parametrize("path", [p for p in YAMLS if _config_class(p)], ids=_rel)
def test_every_config_loads_into_its_dataclass(path):
    cfg = load_config(_config_class(path), path)
    assert isinstance(cfg, _config_class(path))
    _assert_holds(yaml.safe_load(path.read_text()), cfg, "")


@pytest.mark.parametrize("path", [p for p in YAMLS if p.relative_to(CONFIGS).parts[0] in TRL_DIRS], ids=_rel)
def test_trl_configs_load_through_their_parser(path):
    import torch

    from expander.train import grpo, sft

    make_parser = {"sft": sft.make_parser, "grpo": grpo.make_parser}[path.relative_to(CONFIGS).parts[0]]
    argv = ["--config", str(path)]
    if not torch.cuda.is_available():
        argv += ["--use_cpu", "true"]  # GPU recipes ask for bf16, which TrainingArguments refuses on a CPU-only host
    script_args, training_args, model_args = make_parser().parse_args_and_config(argv)
    data = yaml.safe_load(path.read_text())
    assert training_args.output_dir == data["output_dir"]


@pytest.mark.parametrize("path", sorted((CONFIGS / "accelerate").glob("*.yaml")), ids=_rel)
def test_accelerate_configs_load_as_accelerate_configs(path):
    from accelerate.commands.config.config_args import ClusterConfig

    cfg = ClusterConfig.from_yaml_file(str(path))
    assert cfg.num_processes >= 1 and cfg.mixed_precision == yaml.safe_load(path.read_text())["mixed_precision"]


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


# --- command lines and help ------------------------------------------------------------------------


@dataclass
class Options:
    """Options of the test command.

    Attributes:
        verbose: say more.
    """

    verbose: bool = False


@dataclass
class Documented:
    """A recipe documented the ways the repository's docstrings do.

    `hidden_key` is only mentioned here.

    Attributes:
        alpha, beta: two numbers; gamma: a third one
            that continues on the next line.
        delta (a parenthesised help).
        items: repeatable list.
    """

    alpha: int = 1
    beta: int = 2
    gamma: float = 0.5
    delta: str = "d"
    hidden_key: int = 0
    items: list[str] = field(default_factory=list, metadata={"repeat": True})
    epsilon: bool = field(default=False, metadata={"help": "from the field metadata"})
    render: Render = field(default_factory=Render)


def test_field_help_reads_the_docstring_and_metadata():
    helps = field_help(Documented)
    assert helps["alpha"] == helps["beta"] == "two numbers"
    assert helps["gamma"] == "a third one that continues on the next line."
    assert helps["delta"] == "(a parenthesised help)."
    assert helps["hidden_key"] == "`hidden_key` is only mentioned here."
    assert helps["epsilon"] == "from the field metadata"
    assert helps["render"] == ""  # Render has no docstring of its own beyond the dataclass default
    text = config_help(Documented)
    assert "--render.height  int  [default: 512]" in text and "--items  str (repeatable)" in text


def test_command_line_positionals_flags_options_and_repeats(tmp_path):
    path = tmp_path / "r.yaml"
    path.write_text("alpha: 5\nrender:\n  height: 64\n")
    line = load_command_line(
        [
            "--epsilon",
            "first",
            "--config",
            str(path),
            "--items",
            "a, b",
            "--items=c",
            "second",
            "--beta=7",
            "--render.height",
            "32",
            "--verbose",
            "--",
            "--gamma",
            "-0.5",
            "--no-epsilon",
        ],
        Documented,
        prog="t",
        positionals={"one": "1st", "two": "2nd"},
        options=Options,
    )
    assert line.positionals == {"one": "first", "two": "second"} and line.config_path == str(path)
    assert line.options == Options(verbose=True)
    cfg = line.config
    assert (cfg.alpha, cfg.beta, cfg.gamma, cfg.epsilon, cfg.items) == (5, 7, -0.5, False, ["a, b", "c"])
    assert cfg.render.height == 32


@pytest.mark.parametrize(
    "argv, message",
    [
        (["x"], "missing TWO"),
        (["x", "y", "z"], "unexpected argument(s) 'z'"),
        (["x", "y", "--alpha"], "--alpha needs a value"),
        (["x", "y", "--config"], "--config needs a YAML path"),
        (["x", "y", "--alpha", "one"], "alpha must be an integer"),
        (["x", "y", "--alphabet", "1"], "unknown key(s) alphabet"),
        (["x", "y", "--no-epsilon=1"], "--no-epsilon takes no value"),
    ],
)
def test_bad_command_lines_name_the_problem(argv, message):
    with pytest.raises(ConfigError) as info:
        load_command_line(argv, Documented, prog="t", positionals={"one": "1st", "two": "2nd"}, options=Options)
    assert message in str(info.value)


def test_a_required_config_and_required_keys():
    @dataclass
    class Needs:
        """Attributes:
        out: where.
        """

        out: str

    with pytest.raises(ConfigError, match="--config is required"):
        load_command_line([], Needs, prog="t", config_required=True)
    with pytest.raises(ConfigError, match="missing required key"):
        load_command_line([], Needs, prog="t")
    assert load_command_line(["--out", "d"], Needs, prog="t").config.out == "d"


def test_help_exits_0_listing_keys_and_options(capsys):
    with pytest.raises(SystemExit) as info:
        load_command_line(
            ["x", "--help"], Documented, prog="expander t", positionals={"one": "the first"}, options=Options
        )
    assert info.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: expander t ONE [--config YAML]")
    assert "ONE" in out and "the first" in out and "--verbose  bool  [default: False]" in out and "say more." in out


def test_every_key_of_every_command_config_has_help():
    import typing

    from tests.test_cli import _command_configs

    seen, missing = set(), []

    def walk(cls, prefix):
        if cls in seen:
            return
        seen.add(cls)
        helps, hints = field_help(cls), typing.get_type_hints(cls)
        for f in dataclasses.fields(cls):
            if not helps[f.name].strip():
                missing.append(f"{cls.__name__}.{prefix}{f.name}")
            for tp in (hints[f.name], *typing.get_args(hints[f.name])):
                if dataclasses.is_dataclass(tp):
                    walk(tp, "")

    for classes in _command_configs().values():
        for cls in classes:
            walk(cls, "")
    assert len(seen) >= 15 and not missing, missing
