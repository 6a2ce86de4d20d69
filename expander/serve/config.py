"""`ServeConfig`: the settings of `expander serve` (configs/serve.yaml; `--key value` overrides).

Kept light on purpose: the CLI imports this module to build `expander serve --help`, so it imports nothing
from the serve extra (pydantic, fastapi, prometheus_client), nor vllm or torch, and reads no files. Adapter
directories and the shipped default adapter are resolved when the service is built
(`expander.serve.models.ServedModels.from_config`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from expander.engine.repeat_guard import check_size
from expander.errors import ConfigError
from expander.expand import NO_REPEAT_NGRAM
from expander.models import DEFAULT_MODEL

__all__ = ["ADAPTER_NAME_PATTERN", "ServeConfig"]

ADAPTER_NAME_PATTERN = r"[A-Za-z0-9][A-Za-z0-9._:-]{0,63}"
"""What a served adapter name may look like (it is a client-visible model name)."""


@dataclass
class ServeConfig:
    """`expander serve` settings (configs/serve.yaml; `--key value` overrides).

    Attributes:
        model: base model reference (built-in name, local HF dir or hub id).
        served_model_name: the name clients use for the base model; default the model reference's last part.
        backend: `vllm` (continuous batching; the default) or `transformers` (a batching worker thread).
        adapters: served LoRA adapters, name -> PEFT adapter directory. Each is selected by `model: <name>`.
        default_adapter: `default`: a built-in model's shipped adapter (the tuned built-in expander) is served
            too, under its directory name, and is the default model; the bare base stays selectable by its
            own name. `none`: no such adapter. A directory: that adapter, the same way.
        merge_default_adapter: when the default adapter is the only adapter, serve it as merged weights
            (made once, cached) instead of a runtime LoRA: vLLM's CPU LoRA path costs more than the model itself.
            The bare base is then not served by this server (start one with `default_adapter: none` for it).
        default_model: the name used when a request gives no `model`; default the default adapter's name if
            one is served, else the base model's name.
        host, port: where to listen. The default host is loopback: exposing the API is a deliberate choice.
        max_concurrent_requests: requests inside the service at once; the next one gets 429 (no queue).
        retry_after_s: the `Retry-After` header of a 429, in seconds.
        request_timeout_s: a request running longer is cancelled and answered 504.
        api_key_env: environment variable holding the Bearer key; unset or empty = no auth.
        moderation_model: optional text-classification model (dir or hub id) run on inputs and outputs. If
            set and it cannot be loaded, every generation request gets 503 (fail closed).
        moderation_threshold: a moderation label counts at this probability or above.
        shutdown_grace_s: on SIGTERM, in-flight requests get this long to finish.
        on_engine_death: what the server does when its engine dies (vLLM's engine-core process killed, out of
            memory or a driver fault; the transformers worker thread ending). Either way the requests in flight
            get 503 `engine_unavailable` with `Retry-After`. `restart` (the default): rebuild the engine in this
            process, /health 503 `restarting (n/N): <cause>` meanwhile, at most `engine_restart_attempts` times
            in a row; once they are spent, exit non-zero like `exit`. `exit`: stop at once (as on SIGTERM) and
            exit with status `ENGINE_DEAD_EXIT_CODE` (75), for a supervisor (systemd `Restart=on-failure`, a
            container restart policy) to start a fresh process, as `vllm serve` does. Restart is the default
            because `expander serve` (`make serve`) usually runs with no supervisor, where exiting would leave
            nothing serving; exiting after the attempts still lets a supervisor, if there is one, see a crash loop.
        engine_restart_attempts: restarts in a row before giving up (`restart` policy); a restarted engine that
            then serves for `expander.serve.supervisor.STABLE_S` (5 minutes) resets the count.
        engine_restart_backoff_s: seconds before restart attempt n is `engine_restart_backoff_s * 2**(n-1)`
            (the dead engine's memory is released meanwhile).
        dtype: weights dtype of either backend; default `expander.devices.default_dtype` (bf16 on CUDA, fp32 on CPU).
        max_model_len, enforce_eager, max_num_seqs, max_lora_rank, gpu_memory_utilization: vLLM settings.
        engine_args: any other vLLM engine argument, name -> value (`--engine_args.tensor_parallel_size 2`,
            `--engine_args.enable_prefix_caching true`): the fields of `vllm.AsyncEngineArgs`, checked at start
            (an unknown key fails naming it). They win over the settings above. A command-line value is read
            as YAML (`2` is a number, `true` a bool, `{...}` a mapping). vLLM backend only.
        batch_size: transformers backend: the most samples in one `generate` call.
        check_constraints: attach the constraints report to every expansion.
        target_tokenizers: target image model -> tokenizer reference replacing that target's default (a local
            tokenizer or diffusers model directory, a hub id, `clip`, or a built-in model name), for where the hub is
            out of reach, e.g. `{krea2: /models/Krea-2-Turbo}`. An unknown target name fails at start.
        response_cache_size: seeded `/v1/expand` responses kept in memory (LRU); an identical seeded request is
            answered from it (`cached: true`). 0 = off.
        candidates: verified expansion: samples drawn per requested expansion, the best that keeps the prompt's
            hard constraints and adds no subject is returned (`expander.expand.select_candidates`); 1 = off. A
            request's `candidates` overrides it.
        fallback: the faithful fallback: every expansion is verified, and when no sample keeps the prompt's hard
            constraints the text is built from the prompt and the best sample (`expander.expand.faithful_fallback`,
            `fallback: true` in the response). None (default): on when the constraints extra is installed. A
            request's `fallback` overrides it.
        exclusion_guard: keep what a prompt excludes ("no windows", "an empty street": windows, people) out of
            every sample at decode time, except inside a negation (`expander.engine.exclusion_guard`). None
            (default): on when the constraints extra is installed; true without it fails at start.
        no_repeat_ngram: the repeat guard: no run of this many tokens is written twice in one sample
            (`expander.engine.repeat_guard`); 0 = off. Default `expander.expand.NO_REPEAT_NGRAM`.
        languages: ISO 639-1 codes the served model can expand (`*` = any); default the model's own declaration
            (the built-in: `en`). A prompt in another language comes back unchanged (`language_unsupported`).
        enable_thinking: let a reasoning model's chat template think (Qwen3's `enable_thinking`); off by default,
            the thinking text is stripped before anything is checked or returned.
        thinking_budget: extra new tokens allowed for the thinking text when `enable_thinking` is on.
        log_level: uvicorn log level.
    """

    model: str = DEFAULT_MODEL
    served_model_name: str | None = None
    backend: Literal["vllm", "transformers"] = "vllm"
    adapters: dict[str, str] = field(default_factory=dict)
    default_adapter: str = "default"
    merge_default_adapter: bool = True
    default_model: str | None = None
    host: str = "127.0.0.1"
    port: int = 8000
    max_concurrent_requests: int = 128
    retry_after_s: int = 1
    request_timeout_s: float = 120.0
    api_key_env: str = "EXPANDER_API_KEY"
    moderation_model: str | None = None
    moderation_threshold: float = 0.5
    shutdown_grace_s: float = 30.0
    on_engine_death: Literal["restart", "exit"] = "restart"
    engine_restart_attempts: int = 3
    engine_restart_backoff_s: float = 2.0
    dtype: str | None = None
    max_model_len: int = 2048
    enforce_eager: bool | None = None
    max_num_seqs: int = 64
    max_lora_rank: int = 64
    gpu_memory_utilization: float = 0.85
    engine_args: dict[str, Any] = field(default_factory=dict)
    batch_size: int = 32
    check_constraints: bool = True
    target_tokenizers: dict[str, str] = field(default_factory=dict)
    response_cache_size: int = 1024
    candidates: int = 1
    fallback: bool | None = None
    exclusion_guard: bool | None = None
    no_repeat_ngram: int = NO_REPEAT_NGRAM
    languages: list[str] | None = None
    enable_thinking: bool = False
    thinking_budget: int = 1024
    log_level: str = "warning"

    def __post_init__(self) -> None:
        """Check values only (no file is read here: see the module docstring); a bad one is a `ConfigError`."""
        if not 0 < self.port < 65536:
            raise ConfigError(f"port must be in 1..65535, got {self.port}")
        if self.max_concurrent_requests < 1:
            raise ConfigError(f"max_concurrent_requests must be >= 1, got {self.max_concurrent_requests}")
        if self.request_timeout_s <= 0:
            raise ConfigError(f"request_timeout_s must be > 0, got {self.request_timeout_s}")
        if self.engine_restart_attempts < 1:
            raise ConfigError(f"engine_restart_attempts must be >= 1, got {self.engine_restart_attempts}")
        if self.engine_restart_backoff_s < 0:
            raise ConfigError(f"engine_restart_backoff_s must be >= 0, got {self.engine_restart_backoff_s}")
        if self.response_cache_size < 0:
            raise ConfigError(f"response_cache_size must be >= 0, got {self.response_cache_size}")
        if self.batch_size < 1:
            raise ConfigError(f"batch_size must be >= 1, got {self.batch_size}")
        check_size(self.no_repeat_ngram)
        if not 1 <= self.candidates <= 8:
            raise ConfigError(f"candidates must be in 1..8, got {self.candidates}")
        if self.languages is not None:
            from expander.language import normalize_languages  # light: imports nothing heavy at module level

            self.languages = list(normalize_languages(self.languages))
        if self.engine_args and self.backend != "vllm":
            raise ConfigError(
                f"engine_args ({', '.join(map(str, self.engine_args))}) are vLLM engine arguments; "
                f"the {self.backend} backend takes none"
            )
        # A `--engine_args.KEY VALUE` arrives as a string: read it as YAML so `2` is an int, `true` a bool.
        self.engine_args = {str(k): yaml.safe_load(v) if isinstance(v, str) else v for k, v in self.engine_args.items()}
        for name in self.adapters:
            if not re.fullmatch(ADAPTER_NAME_PATTERN, str(name)):
                raise ConfigError(f"adapter name {name!r} must be 1-64 letters, digits or . _ : -")

    def base_name(self) -> str:
        """The served name of the base model."""
        return self.served_model_name or Path(str(self.model).rstrip("/")).name

    def backend_options(self) -> dict:
        """The keyword settings of the configured backend (`expander.serve.backends.create_backend`)."""
        if self.backend == "vllm":
            return dict(
                dtype=self.dtype,
                max_model_len=self.max_model_len,
                enforce_eager=self.enforce_eager,
                max_num_seqs=self.max_num_seqs,
                max_lora_rank=self.max_lora_rank,
                gpu_memory_utilization=self.gpu_memory_utilization,
                engine_args=dict(self.engine_args),
            )
        return dict(dtype=self.dtype, batch_size=self.batch_size)
