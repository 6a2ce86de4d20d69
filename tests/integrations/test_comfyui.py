"""The ComfyUI node pack (`integrations/comfyui/`) and the logic it calls (`expander.integrations.comfyui`).

ComfyUI installs from git, not from the package index, so it cannot run here. The pack is loaded the way
ComfyUI's `nodes.load_custom_node` loads a custom-node folder (its `__init__.py` as a package, by file path),
against `comfy_api_stand_in()`: a minimal stand-in for `comfy_api.latest` (`ComfyExtension` and the `io` module:
`Schema`, `ComfyNode`, `NodeOutput`, and the `String`/`Int`/`Boolean`/`Combo` inputs and outputs) written to
match ComfyUI's own `comfy_api/latest/_io.py` and `__init__.py` (the constructor signatures, `as_dict` dropping
None values, `Schema.finalize`/`validate`, the V1 view `create_input_dict_v1` builds, `EXECUTE_NORMALIZED`
wrapping what `execute` returns). ComfyUI's output cache is modelled by `ComfyCache` on its executor's rule: a
node's last outputs are reused while its inputs and its fingerprint (`fingerprint_inputs`, V1 `IS_CHANGED`) are
unchanged, and NaN never equals itself.

The local expander is a 2-layer random Llama with SmolLM2's tokenizer (trimmed): its text is noise, but seeded.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import math
import socket
import sys
import threading
import types
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import torch

from expander.errors import ConfigError
from expander.integrations import comfyui
from expander.integrations.comfyui import NODE_ID, NODE_INPUTS, NODE_OUTPUTS, RUNNER, NodeRunner, v1_input_types
from expander.targets import TargetError

PACK = Path(__file__).resolve().parents[2] / "integrations" / "comfyui"
VOCAB = 1024


# ---- a stand-in for ComfyUI's comfy_api.latest, after comfy_api/latest/_io.py ----------------------------------


def _prune(d: dict) -> dict:
    return {k: v for k, v in d.items() if v is not None}


class _Input:
    Parent = None

    def __init__(self, id, display_name=None, optional=False, tooltip=None, lazy=None, extra_dict=None, raw_link=None):
        self.id, self.display_name, self.optional, self.tooltip, self.lazy = id, display_name, optional, tooltip, lazy
        self.extra_dict, self.raw_link = extra_dict or {}, raw_link

    @property
    def io_type(self):
        return self.Parent.io_type

    def as_dict(self) -> dict:
        keys = {"display_name": self.display_name, "optional": self.optional, "tooltip": self.tooltip}
        return _prune({**keys, "lazy": self.lazy, "rawLink": self.raw_link}) | _prune(self.extra_dict)


class _WidgetInput(_Input):
    def __init__(
        self,
        id,
        display_name=None,
        optional=False,
        tooltip=None,
        lazy=None,
        default=None,
        socketless=None,
        widget_type=None,
        force_input=None,
        extra_dict=None,
        raw_link=None,
    ):
        super().__init__(id, display_name, optional, tooltip, lazy, extra_dict, raw_link)
        self.default, self.socketless, self.widget_type, self.force_input = (
            default,
            socketless,
            widget_type,
            force_input,
        )

    def as_dict(self) -> dict:
        extra = {"default": self.default, "socketless": self.socketless, "widgetType": self.widget_type}
        return super().as_dict() | _prune({**extra, "forceInput": self.force_input})


class _Output:
    Parent = None

    def __init__(self, id=None, display_name=None, tooltip=None, is_output_list=False):
        self.id, self.display_name, self.tooltip, self.is_output_list = id, display_name, tooltip, is_output_list

    @property
    def io_type(self):
        return self.Parent.io_type


def _comfytype(io_type: str):
    def decorate(cls):
        cls.io_type = io_type
        for part in ("Input", "Output"):
            if hasattr(cls, part):
                getattr(cls, part).Parent = cls
        return cls

    return decorate


@_comfytype("STRING")
class String:
    class Input(_WidgetInput):
        def __init__(
            self,
            id,
            display_name=None,
            optional=False,
            tooltip=None,
            lazy=None,
            multiline=False,
            placeholder=None,
            default=None,
            dynamic_prompts=None,
            socketless=None,
            force_input=None,
            extra_dict=None,
            raw_link=None,
        ):
            super().__init__(
                id, display_name, optional, tooltip, lazy, default, socketless, None, force_input, extra_dict, raw_link
            )
            self.multiline, self.placeholder, self.dynamic_prompts = multiline, placeholder, dynamic_prompts

        def as_dict(self) -> dict:
            extra = {"multiline": self.multiline, "placeholder": self.placeholder}
            return super().as_dict() | _prune({**extra, "dynamicPrompts": self.dynamic_prompts})

    class Output(_Output):
        pass


@_comfytype("INT")
class Int:
    class Input(_WidgetInput):
        def __init__(
            self,
            id,
            display_name=None,
            optional=False,
            tooltip=None,
            lazy=None,
            default=None,
            min=None,
            max=None,
            step=None,
            control_after_generate=None,
            display_mode=None,
            socketless=None,
            force_input=None,
            extra_dict=None,
            raw_link=None,
        ):
            super().__init__(
                id, display_name, optional, tooltip, lazy, default, socketless, None, force_input, extra_dict, raw_link
            )
            self.min, self.max, self.step, self.control_after_generate = min, max, step, control_after_generate
            self.display_mode = display_mode

        def as_dict(self) -> dict:
            extra = {"min": self.min, "max": self.max, "step": self.step}
            return super().as_dict() | _prune({**extra, "control_after_generate": self.control_after_generate})

    class Output(_Output):
        pass


@_comfytype("BOOLEAN")
class Boolean:
    class Input(_WidgetInput):
        def __init__(
            self,
            id,
            display_name=None,
            optional=False,
            tooltip=None,
            lazy=None,
            default=None,
            label_on=None,
            label_off=None,
            socketless=None,
            force_input=None,
            extra_dict=None,
            raw_link=None,
        ):
            super().__init__(
                id, display_name, optional, tooltip, lazy, default, socketless, None, force_input, extra_dict, raw_link
            )
            self.label_on, self.label_off = label_on, label_off

        def as_dict(self) -> dict:
            return super().as_dict() | _prune({"label_on": self.label_on, "label_off": self.label_off})


@_comfytype("COMBO")
class Combo:
    class Input(_WidgetInput):
        def __init__(
            self,
            id,
            options=None,
            display_name=None,
            optional=False,
            tooltip=None,
            lazy=None,
            default=None,
            control_after_generate=None,
            upload=None,
            image_folder=None,
            remote=None,
            socketless=None,
            extra_dict=None,
            raw_link=None,
        ):
            super().__init__(
                id, display_name, optional, tooltip, lazy, default, socketless, None, None, extra_dict, raw_link
            )
            self.multiselect, self.options, self.control_after_generate = False, options, control_after_generate

        def as_dict(self) -> dict:
            extra = {"multiselect": self.multiselect, "options": self.options}
            return super().as_dict() | _prune({**extra, "control_after_generate": self.control_after_generate})


@dataclass
class Schema:
    node_id: str
    display_name: str = None
    category: str = "sd"
    inputs: list = field(default_factory=list)
    outputs: list = field(default_factory=list)
    hidden: list = field(default_factory=list)
    description: str = ""
    search_aliases: list = field(default_factory=list)
    is_input_list: bool = False
    is_output_node: bool = False
    is_deprecated: bool = False
    is_experimental: bool = False
    is_api_node: bool = False
    not_idempotent: bool = False
    enable_expand: bool = False

    def validate(self) -> None:
        ids = [i.id for i in self.inputs] + [o.id for o in self.outputs]
        if len(set(ids)) != len(ids):
            raise ValueError(f"input and output ids must be unique: {ids}")

    def finalize(self) -> None:
        for i, output in enumerate(self.outputs):
            if output.id is None:
                output.id = f"_{i}_{output.io_type}_"

    def v1_inputs(self) -> dict:
        """`create_input_dict_v1`: what ComfyUI's frontend and V1 loader see of a V3 node's inputs."""
        out = {"required": {}}
        for i in self.inputs:
            options = i.as_dict()
            options.pop("optional", None)
            out.setdefault("optional" if i.optional else "required", {})[i.id] = (i.io_type, options)
        return out


class NodeOutput:
    def __init__(self, *args, ui=None, expand=None, block_execution=None):
        self.args, self.ui, self.expand, self.block_execution = args, ui, expand, block_execution

    @property
    def result(self):
        return self.args if self.args else None


class ComfyNode:
    SCHEMA = None

    @classmethod
    def define_schema(cls) -> Schema:
        raise NotImplementedError

    @classmethod
    def execute(cls, **kwargs) -> NodeOutput:
        raise NotImplementedError

    @classmethod
    def fingerprint_inputs(cls, **kwargs):
        raise NotImplementedError

    @classmethod
    def GET_SCHEMA(cls) -> Schema:
        schema = cls.define_schema()
        schema.finalize()
        schema.validate()
        cls.SCHEMA = schema
        return schema

    @classmethod
    def EXECUTE_NORMALIZED(cls, *args, **kwargs) -> NodeOutput:
        out = cls.execute(*args, **kwargs)
        if out is None:
            return NodeOutput()
        if isinstance(out, tuple):
            return NodeOutput(*out)
        if not isinstance(out, NodeOutput):
            raise TypeError(f"Invalid return type from node: {type(out)}")
        return out


class ComfyExtension(ABC):
    async def on_load(self) -> None:  # noqa: B027 (ComfyUI's hook: optional, does nothing by default)
        return None

    @abstractmethod
    async def get_node_list(self) -> list:
        """The node classes of the extension."""


def comfy_api_stand_in() -> dict[str, types.ModuleType]:
    """`comfy_api` and `comfy_api.latest` (with `ComfyExtension` and `io`), as modules to put in `sys.modules`."""
    io = types.ModuleType("comfy_api.latest._io_public")
    for obj in (Schema, NodeOutput, ComfyNode, String, Int, Boolean, Combo):
        setattr(io, obj.__name__, obj)
    latest = types.ModuleType("comfy_api.latest")
    latest.io, latest.ComfyExtension = io, ComfyExtension
    package = types.ModuleType("comfy_api")
    package.__path__, package.latest = [], latest
    return {"comfy_api": package, "comfy_api.latest": latest}


class ComfyCache:
    """ComfyUI's executor on one node: its last outputs are reused while the inputs are the same and the
    fingerprint compares equal to the last one (NaN never does); otherwise it executes."""

    def __init__(self, node):
        self.node, self.last, self.executions = node, None, 0

    def queue(self, **inputs) -> tuple:
        fingerprint = self.node.fingerprint_inputs(**inputs)
        if self.last is not None and self.last[0] == inputs and self.last[1] == fingerprint:
            return self.last[2]
        self.executions += 1
        outputs = self.node.EXECUTE_NORMALIZED(**inputs).result
        self.last = (inputs, fingerprint, outputs)
        return outputs


# ---- fixtures ----------------------------------------------------------------------------------------------------


def load_pack(monkeypatch, with_v3: bool) -> types.ModuleType:
    """Import the pack as ComfyUI's `load_custom_node` does: the folder's `__init__.py` as a package, by path."""
    if with_v3:
        for name, module in comfy_api_stand_in().items():
            monkeypatch.setitem(sys.modules, name, module)
    else:
        monkeypatch.setitem(sys.modules, "comfy_api", None)  # an older ComfyUI: no V3 API to import
    name = f"expander_comfyui_pack_{'v3' if with_v3 else 'v1'}"
    spec = importlib.util.spec_from_file_location(name, PACK / "__init__.py", submodule_search_locations=[str(PACK)])
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, name, module)
    spec.loader.exec_module(module)
    for sub in [m for m in sys.modules if m.startswith(name + ".")]:
        monkeypatch.setitem(sys.modules, sub, sys.modules.pop(sub))  # recorded as new: removed when the test ends
    return module


@pytest.fixture(scope="module")
def tiny_lm(tmp_path_factory, builtin_model_dir) -> Path:
    """A 2-layer random Llama with the built-in model's tokenizer cut to its first 1,024 ids (the merges that stay
    inside them, the same special tokens and chat template): sampling over 1,024 ids instead of 49,152 keeps
    each token cheap."""
    from transformers import LlamaConfig, LlamaForCausalLM

    out = tmp_path_factory.mktemp("tiny_comfy_lm")
    data = json.loads((builtin_model_dir / "tokenizer.json").read_text())
    vocab = {token: i for token, i in data["model"]["vocab"].items() if i < VOCAB}
    merges = data["model"]["merges"]
    data["model"].update(
        vocab=vocab, merges=[m for m in merges if m[0] in vocab and m[1] in vocab and m[0] + m[1] in vocab]
    )
    data["added_tokens"] = [t for t in data["added_tokens"] if t["id"] < VOCAB]
    (out / "tokenizer.json").write_text(json.dumps(data))
    for name in ("tokenizer_config.json", "chat_template.jinja"):
        (out / name).write_bytes((builtin_model_dir / name).read_bytes())
    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=VOCAB,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=1024,
        bos_token_id=1,
        eos_token_id=2,
        tie_word_embeddings=True,
    )
    LlamaForCausalLM(config).save_pretrained(out)
    yield out
    RUNNER.unload()
    RUNNER.results.clear()


@pytest.fixture
def node(monkeypatch):
    return load_pack(monkeypatch, with_v3=True).NODE_CLASS_MAPPINGS[NODE_ID]


def inputs(**overrides) -> dict:
    base = {
        "prompt": "a red fox in snow",
        "creativity": "low",
        "seed": 3,
        "keep_terms": "",
        "candidates": 1,
        "target": "generic",
        "model": "smollm2-135m",
        "server_url": "",
        "max_words": 8,  # 28 new tokens at most: the tiny LM writes them in moments
    }
    return {**base, **overrides}


# ---- tests -------------------------------------------------------------------------------------------------------


def test_the_pack_registers_its_v3_node_through_both_loader_paths(monkeypatch):
    pack = load_pack(monkeypatch, with_v3=True)
    node = pack.NODE_CLASS_MAPPINGS[NODE_ID]
    assert issubclass(node, ComfyNode) and pack.NODE_DISPLAY_NAME_MAPPINGS == {NODE_ID: "Expand Prompt (expander)"}
    extension = asyncio.run(pack.comfy_entrypoint())
    assert isinstance(extension, ComfyExtension) and asyncio.run(extension.get_node_list()) == [node]
    schema = node.GET_SCHEMA()
    assert schema.node_id == NODE_ID and [i.id for i in schema.inputs] == [s.name for s in NODE_INPUTS]
    assert [(o.display_name, o.io_type) for o in schema.outputs] == [(name, kind) for name, kind, _ in NODE_OUTPUTS]
    # What ComfyUI shows of the V3 schema is what the V1 declaration of the same node says.
    v1 = v1_input_types()
    for section, declared in schema.v1_inputs().items():
        assert list(declared) == list(v1[section])
        for name, (kind, options) in declared.items():
            v1_kind, v1_options = v1[section][name]
            if kind == "COMBO":
                assert options.pop("options") == v1_kind and options.pop("multiselect") is False
                kind = v1_kind
            assert (kind, options) == (v1_kind, v1_options), name


def test_an_older_comfyui_gets_the_classic_node(monkeypatch):
    pack = load_pack(monkeypatch, with_v3=False)
    node = pack.NODE_CLASS_MAPPINGS[NODE_ID]
    assert not hasattr(pack, "comfy_entrypoint")
    assert node.INPUT_TYPES() == v1_input_types()
    assert node.RETURN_TYPES == ("STRING", "STRING", "INT", "INT", "STRING")
    assert node.RETURN_NAMES == ("expanded_prompt", "negative_prompt", "width", "height", "report")
    assert callable(getattr(node(), node.FUNCTION)) and callable(node.IS_CHANGED)


def test_raw_creativity_passes_the_prompt_through_shaped_for_the_target(node):
    """No model runs: the prompt comes back (with the keep term), with the negative prompt, the size and the
    constraint report the prompt implies."""
    prompt = "a panorama of a red fox in snow, no people"
    out = node.EXECUTE_NORMALIZED(**inputs(prompt=prompt, creativity="raw", target="sdxl", keep_terms="fox, Kodak"))
    expanded, negative, width, height, report = out.result
    assert expanded == prompt + ", Kodak."
    assert negative == "people" and width > height and width % 16 == height % 16 == 0
    assert report.splitlines()[0].startswith("faithful: yes")
    assert "target: sdxl" in report and "from 'panorama'" in report


def test_same_inputs_and_seed_are_cached_and_a_changed_seed_runs_again(node, tiny_lm):
    comfy = ComfyCache(node)
    args = inputs(model=str(tiny_lm))
    first = comfy.queue(**args)
    calls = RUNNER.model_calls
    assert comfy.queue(**args) == first and comfy.executions == 1  # ComfyUI's cache: not even executed
    # ComfyUI dropped its copy (another workflow ran in between): the runner still knows the result.
    assert node.EXECUTE_NORMALIZED(**args).result == first and RUNNER.model_calls == calls
    # A changed seed runs the model again. (Not a different text: the tiny random LM's samples fail the checker on
    # every seed, so the faithful fallback, on by default, returns the prompt for both.)
    comfy.queue(**{**args, "seed": 4})
    assert comfy.executions == 2 and RUNNER.model_calls == calls + 1
    assert comfy.queue(**args) == first and RUNNER.model_calls == calls + 1  # seed 3 again: remembered
    assert "faithful:" in first[4] and "target: generic" in first[4]


def test_seed_minus_one_runs_on_every_queue(node, tiny_lm):
    comfy = ComfyCache(node)
    args = inputs(model=str(tiny_lm), seed=-1)
    assert math.isnan(node.fingerprint_inputs(**args))
    comfy.queue(**args)
    comfy.queue(**args)
    assert comfy.executions == 2


def test_new_weights_in_the_model_directory_run_again(tiny_lm, tmp_path):
    import shutil

    from transformers import AutoModelForCausalLM

    model = tmp_path / "model"
    shutil.copytree(tiny_lm, model)
    runner, args = NodeRunner(), inputs(model=str(model))
    before = runner.fingerprint(**args)
    assert runner.fingerprint(**args) == before
    retrained = AutoModelForCausalLM.from_pretrained(model)
    with torch.no_grad():
        retrained.model.norm.weight.add_(1.0)
    retrained.save_pretrained(model)
    assert runner.fingerprint(**args) != before


def test_a_server_gives_what_the_local_model_gives(node, tiny_lm):
    """The node on `server_url`: the real API app on the same tiny model, served by uvicorn in a thread. Same
    seed, same outputs (text, negative prompt, size, report) as the model loaded in ComfyUI's process."""
    import uvicorn

    from expander.serve.app import create_app
    from expander.serve.config import ServeConfig

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    config = ServeConfig(backend="transformers", model=str(tiny_lm), default_adapter="none", api_key_env="")
    server = uvicorn.Server(uvicorn.Config(create_app(config), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    args = inputs(
        model=str(tiny_lm), prompt="a lighthouse at dusk, no boats", seed=11, keep_terms="Kodak", candidates=2
    )
    try:
        from expander.client import ExpanderClient

        with ExpanderClient(f"http://127.0.0.1:{port}") as client:
            client.wait_until_ready(timeout_s=120, poll_s=0.05)
        remote = node.EXECUTE_NORMALIZED(**{**args, "server_url": f"http://127.0.0.1:{port}"}).result
        assert isinstance(node.fingerprint_inputs(**{**args, "server_url": f"http://127.0.0.1:{port}"}), str)
    finally:
        RUNNER.unload()  # closes the client's connections
        server.should_exit = True
        thread.join(timeout=30)
    local = node.EXECUTE_NORMALIZED(**args).result
    assert remote == local
    assert remote[0].endswith("Kodak.") and remote[1] == "boats"


@pytest.mark.parametrize(
    "overrides, error, message",
    [
        ({"target": "midjourney"}, TargetError, "krea2"),
        ({"width": 1024}, ConfigError, "set both width and height"),
        ({"width": 1000, "height": 1000}, TargetError, "16"),
        ({"candidates": 0}, ConfigError, "candidates must be >= 1"),
        ({"max_words": -1}, ConfigError, "max_words must be >= 0"),
        ({"seed": -2}, ConfigError, "-1 for a new seed every run"),
        ({"steps": 4}, ConfigError, "unknown input 'steps'"),
        ({"creativity": "wild"}, ValueError, "unknown creativity 'wild'"),
    ],
)
def test_bad_inputs_are_errors_naming_what_is_allowed(overrides, error, message):
    with pytest.raises(error, match=message):
        comfyui.RUNNER.run(**{**inputs(creativity="raw"), **overrides})
