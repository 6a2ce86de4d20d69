"""Serve config, the served-models registry, CLI errors, request models and the system-prompt leak check:
fast, no engine."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

from expander.cli import main
from expander.config import ConfigError, load_config
from expander.prompts import SYSTEM_PROMPT
from expander.protocol import ChatCompletionRequest, ExpandRequest
from expander.serve.config import ServeConfig
from expander.serve.models import ServedModelError, ServedModels
from expander.serve.moderation import leaks_system_prompt
from expander.serve.service import ExpanderService

CONFIGS = Path(__file__).resolve().parents[2] / "configs"


@pytest.mark.parametrize("name", ["serve.yaml", "serve_transformers.yaml"])
def test_serve_configs_load(name):
    cfg = load_config(ServeConfig, CONFIGS / name)
    assert cfg.host == "127.0.0.1"  # loopback unless the operator says otherwise
    assert cfg.backend == ("vllm" if name == "serve.yaml" else "transformers")


def test_overrides_and_named_errors(tmp_path):
    cfg = load_config(ServeConfig, CONFIGS / "serve.yaml", ["--port", "9001", "--backend", "transformers"])
    assert (cfg.port, cfg.backend) == (9001, "transformers")
    with pytest.raises(ConfigError, match="backend must be one of"):
        load_config(ServeConfig, None, ["--backend", "tgi"])
    with pytest.raises(ConfigError, match="port must be in 1..65535"):
        load_config(ServeConfig, None, ["--port", "0"])
    with pytest.raises(ConfigError, match="unknown key"):
        load_config(ServeConfig, None, ["--max_concurrency", "3"])
    with pytest.raises(ConfigError, match="adapter name 'a b' must be"):
        load_config(ServeConfig, None, ["--adapters", "{'a b': /x}"])
    # The library API raises the same class as the CLI's loader (not a bare ValueError it would have to wrap).
    with pytest.raises(ConfigError, match="candidates must be in 1..8, got 9"):
        ServeConfig(candidates=9)
    with pytest.raises(ConfigError, match=r"no_repeat_ngram must be 0 \(off\) or >= 2 tokens, got -1"):
        load_config(ServeConfig, None, ["--no_repeat_ngram", "-1"])
    # Adapter directories are checked when the service is built (the config reads no files).
    cfg = load_config(ServeConfig, None, ["--adapters", f"{{sft: {tmp_path}}}"])
    with pytest.raises(ServedModelError, match=r"adapters.sft: .* is not a PEFT adapter directory"):
        ServedModels.from_config(cfg)


def test_serve_config_imports_nothing_heavy_and_reads_no_files():
    """The CLI builds `expander serve --help` from ServeConfig: no serve extra, engine or torch on import."""
    code = (
        "import sys, pathlib\n"
        "from expander.serve.config import ServeConfig\n"
        "pathlib.Path.is_file = pathlib.Path.exists = lambda self: (_ for _ in ()).throw(AssertionError(self))\n"
        "ServeConfig(adapters={'sft': '/no/such/dir'}, default_adapter='/no/such/adapter')\n"
        "heavy = {'pydantic', 'prometheus_client', 'fastapi', 'vllm', 'torch', 'transformers'}\n"
        "print(sorted(heavy & set(sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_default_model_must_be_served(tmp_path):
    (tmp_path / "adapter_config.json").write_text("{}")
    svc = ExpanderService(ServeConfig(adapters={"sft": str(tmp_path)}, default_model="sft", default_adapter="none"))
    assert svc.models.names() == ["smollm2-135m", "sft"] and svc.models.default_model == "sft"
    with pytest.raises(ServedModelError, match="default_model 'grpo' is not served"):
        ExpanderService(ServeConfig(default_model="grpo"))
    with pytest.raises(ServedModelError, match="clashes"):
        ExpanderService(ServeConfig(adapters={"smollm2-135m": str(tmp_path)}, default_adapter="none"))


def test_default_adapter_is_served_by_name_and_is_the_default(tmp_path):
    tuned = tmp_path / "my-expander"
    tuned.mkdir()
    (tuned / "adapter_config.json").write_text("{}")
    lora = ExpanderService(ServeConfig(default_adapter=str(tuned), merge_default_adapter=False))
    assert lora.models.names() == ["smollm2-135m", "my-expander"] and lora.models.default_model == "my-expander"
    assert lora.models.resolve(None) == "my-expander" and lora.models.resolve("smollm2-135m") is None  # base by name
    # Alone, the default adapter is served merged: the engine's own weights carry its name, no runtime LoRA.
    merged_cfg = ServeConfig(default_adapter=str(tuned))
    assert ServedModels.from_config(merged_cfg).merged == ("my-expander", str(tuned))
    merged = ExpanderService(merged_cfg)
    assert merged.models.names() == ["my-expander"] and merged.models.resolve(None) is None
    # With other adapters beside it, every adapter is a runtime LoRA on the bare base.
    other = tmp_path / "other"
    other.mkdir()
    (other / "adapter_config.json").write_text("{}")
    both = ServeConfig(default_adapter=str(tuned), adapters={"other": str(other)})
    assert ServedModels.from_config(both).merged is None and ExpanderService(both).models.names() == [
        "smollm2-135m",
        "my-expander",
        "other",
    ]
    bare = ExpanderService(ServeConfig(default_adapter="none"))
    assert bare.models.names() == ["smollm2-135m"] and bare.models.resolve(None) is None


def test_cli_reports_bad_settings_with_exit_code_2(capsys):
    assert main(["serve", "--port", "abc"]) == 2
    assert "port must be an integer" in capsys.readouterr().err
    assert main(["serve", "--model", "/no/such/model"]) == 2
    assert "cannot load model" in capsys.readouterr().err
    assert main(["serve", "--config", "/no/such.yaml"]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_cli_reports_an_unservable_adapter_with_exit_code_2(tmp_path, capsys):
    assert main(["serve", "--adapters", f"{{sft: {tmp_path}}}"]) == 2
    assert "is not a PEFT adapter directory" in capsys.readouterr().err


@pytest.mark.parametrize(
    "body, field",
    [
        ({"prompt": " "}, "prompt"),
        ({"prompt": "x" * 2001}, "prompt"),
        ({"prompt": "a fox", "n": 9}, "n"),
        ({"prompt": "a fox", "n": "2"}, "n"),  # strict: no string-to-int coercion
        ({"prompt": "a fox", "keep_terms": [" "]}, "keep_terms"),
        ({"prompt": "a fox", "seed": -1}, "seed"),
        ({"prompt": "a fox", "extra": 1}, "extra"),
    ],
)
def test_expand_request_rejects(body, field):
    with pytest.raises(ValidationError) as info:
        ExpandRequest.model_validate(body)
    assert field in {str(e["loc"][0]) for e in info.value.errors()}


def test_expand_request_normalises():
    req = ExpandRequest.model_validate({"prompt": "  a fox  ", "keep_terms": [" Fox "]})
    assert (req.prompt, req.keep_terms, req.n, req.creativity) == ("a fox", ["Fox"], 1, "medium")


def test_chat_request_takes_text_parts_and_ignores_unknown_openai_fields():
    req = ChatCompletionRequest.model_validate(
        {
            "model": "m",
            "messages": [{"role": "user", "content": [{"type": "text", "text": "a fox"}]}],
            "frequency_penalty": 0.5,
            "user": "abc",
        }
    )
    assert req.messages[-1].text() == "a fox"


def test_leak_check_spots_system_prompt_quotes_but_not_descriptions():
    assert leaks_system_prompt("Sure. " + SYSTEM_PROMPT.splitlines()[0])
    assert leaks_system_prompt("Rules: Keep everything the user asked for: every subject, count, colour")
    assert not leaks_system_prompt("A red fox stands in deep snow under a pale winter sky, its breath misting.")
    # the user's own words do not count as a leak
    prompt = "a poster that says keep everything the user asked for"
    assert not leaks_system_prompt("A poster that says keep everything the user asked for, in bold type.", prompt)


def test_engine_args_reach_the_vllm_backend_typed_and_only_the_vllm_backend(tmp_path):
    cfg = load_config(
        ServeConfig,
        CONFIGS / "serve.yaml",
        [
            "--engine_args.enable_prefix_caching",
            "true",
            "--engine_args.tensor_parallel_size",
            "1",
            "--engine_args.quantization",
            "fp8",
        ],
    )
    assert cfg.engine_args == {"enable_prefix_caching": True, "tensor_parallel_size": 1, "quantization": "fp8"}
    assert cfg.backend_options()["engine_args"] == cfg.engine_args
    with pytest.raises(ConfigError, match=r"engine_args \(max_num_seqs\) are vLLM engine arguments"):
        load_config(ServeConfig, CONFIGS / "serve_transformers.yaml", ["--engine_args.max_num_seqs", "4"])


def test_an_unknown_engine_arg_stops_serve_naming_it_and_the_closest_fields(capsys):
    assert main(["serve", "--engine_args.tensor_paralel_size", "2"]) == 2
    err = capsys.readouterr().err
    assert "unknown vLLM engine argument 'tensor_paralel_size'" in err and "did you mean tensor_parallel_size" in err


def test_the_offline_engine_checks_its_llm_kwargs_the_same_way(builtin_model_dir):
    from expander.engine import EngineArgsError, VLLMEngine, check_vllm_engine_args

    assert check_vllm_engine_args({"enable_prefix_caching": True, "max_num_batched_tokens": 4096}) is not None
    with pytest.raises(
        EngineArgsError,
        match=r"VLLMEngine.llm_kwargs: unknown vLLM engine arguments 'max_num_seq' "
        r"\(did you mean max_num_seqs.*'nonsense'",
    ):
        VLLMEngine(model="smollm2-135m", model_path=builtin_model_dir, llm_kwargs={"max_num_seq": 4, "nonsense": 1})


def test_the_exclusion_guard_processor_is_installed_beside_the_callers_and_dropped_for_speculative_decoding(caplog):
    from expander.engine.vllm_backend import VLLM_LOGITS_PROCESSOR, vllm_engine_args

    assert vllm_engine_args("m")["logits_processors"] == [VLLM_LOGITS_PROCESSOR]
    mine = "my.module:MyProcessor"
    assert vllm_engine_args("m", extra={"logits_processors": [mine]})["logits_processors"] == [
        VLLM_LOGITS_PROCESSOR,
        mine,
    ]
    spec = vllm_engine_args("m", extra={"speculative_config": {"method": "ngram", "num_speculative_tokens": 2}})
    assert spec["logits_processors"] == []
    assert "exclusion guard is off" in caplog.text
