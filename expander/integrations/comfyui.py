"""What the ComfyUI node pack (`integrations/comfyui/` in the repository) runs, importable and testable without
ComfyUI: the node's inputs and outputs, its execution and its cache fingerprint.

The node "Expand Prompt (expander)" takes a prompt, a creativity level, a seed, keep terms, a candidate count,
the target image model, and either a local model (expanded in ComfyUI's own process, the built-in expander by
default) or the URL of an expander server. It returns the expanded prompt shaped for the target, the negative
prompt, a width and a height, and the constraint report as text.

Caching, as ComfyUI users expect it. ComfyUI reuses a node's last outputs while its inputs and its fingerprint
(V3 `fingerprint_inputs`, V1 `IS_CHANGED`) are unchanged. `NodeRunner.fingerprint` is a digest of every input
plus what the inputs point at: the weights of a local model (`expander.models.weights_revision`) or the
revisions a server says it serves. So the same inputs and seed give the cached result (also from the runner's
own memory, `NodeRunner.results`, when ComfyUI has dropped its copy or two nodes ask the same), a changed seed
or a retrained model runs again, and seed -1 ("a new seed every run") is never cached: its fingerprint is NaN,
which never equals itself.

The pack's V3 classes (`io.ComfyNode`) and V1 classes (`NODE_CLASS_MAPPINGS`) are both built from
`NODE_INPUTS` and `NODE_OUTPUTS`, so the two declarations cannot drift apart.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
from collections import OrderedDict
from dataclasses import asdict, dataclass, fields

from expander.engine import MAX_SEED
from expander.errors import ConfigError
from expander.models import DEFAULT_MODEL
from expander.prompts import CREATIVITY_LEVELS, DEFAULT_CREATIVITY, creativity_settings
from expander.targets import DEFAULT_TARGET, TARGETS, check_size, get_target, shape

__all__ = [
    "CATEGORY",
    "DESCRIPTION",
    "DISPLAY_NAME",
    "NODE_ID",
    "NODE_INPUTS",
    "NODE_OUTPUTS",
    "RUNNER",
    "NodeInput",
    "NodeResult",
    "NodeRunner",
    "NodeSettings",
    "report_text",
    "v1_input_types",
]

logger = logging.getLogger(__name__)

NODE_ID = "ExpanderExpandPrompt"
DISPLAY_NAME = "Expand Prompt (expander)"
CATEGORY = "expander"
DESCRIPTION = (
    "Rewrites a short prompt into a dense image description that keeps everything asked for, shaped for the "
    "target image model (token limit, negative prompt, size)."
)


@dataclass(frozen=True)
class NodeInput:
    """One input of the node, in terms both ComfyUI APIs can express.

    Attributes:
        name: the input id (the keyword `execute` receives).
        kind: `STRING`, `INT`, `BOOLEAN` or `COMBO` (a drop-down of `options`).
        default, tooltip: as shown in ComfyUI.
        optional: listed under ComfyUI's optional inputs (a default applies when it is not connected).
        options: the choices of a `COMBO`.
        minimum, maximum: the range of an `INT`.
        multiline: a multi-line text box (`STRING`).
        control_after_generate: ComfyUI's fixed/increment/randomize control under the widget (the seed).
    """

    name: str
    kind: str
    default: object
    tooltip: str
    optional: bool = False
    options: tuple[str, ...] = ()
    minimum: int | None = None
    maximum: int | None = None
    multiline: bool = False
    control_after_generate: bool = False


NODE_INPUTS: tuple[NodeInput, ...] = (
    NodeInput("prompt", "STRING", "", "The short prompt to expand.", multiline=True),
    NodeInput(
        "creativity",
        "COMBO",
        DEFAULT_CREATIVITY,
        "How much the expander may invent; raw returns the prompt unchanged (shaped only).",
        options=tuple(CREATIVITY_LEVELS),
    ),
    NodeInput(
        "seed",
        "INT",
        0,
        "Same seed and inputs: the cached expansion. -1: a new seed every run (never cached).",
        minimum=-1,
        maximum=MAX_SEED,
        control_after_generate=True,
    ),
    NodeInput("keep_terms", "STRING", "", "Comma-separated terms that must appear verbatim (trigger words, names)."),
    NodeInput(
        "candidates",
        "INT",
        1,
        "Samples drawn; the first that keeps the prompt's constraints and adds no subject is returned (1: off).",
        minimum=1,
        maximum=16,
    ),
    NodeInput(
        "target",
        "COMBO",
        DEFAULT_TARGET,
        "The image model the prompt is for: its token limit, negative prompt and native size.",
        options=tuple(TARGETS),
    ),
    NodeInput(
        "model",
        "STRING",
        DEFAULT_MODEL,
        "Local expander: a built-in name, a model directory (e.g. from `expander export --format hf`) or a hub id.",
    ),
    NodeInput("server_url", "STRING", "", "An expander server (http://host:8000); when set, `model` is not loaded."),
    NodeInput(
        "max_words",
        "INT",
        0,
        "Word budget of the expansion; 0: the creativity level's (low 80, medium 120, high 160).",
        optional=True,
        maximum=400,
    ),
    NodeInput(
        "negative_prompt",
        "STRING",
        "",
        "Your negative prompt; what the prompt excludes ('no cars') is added. Empty where the target takes none.",
        optional=True,
        multiline=True,
    ),
    NodeInput(
        "width", "INT", 0, "Your image width (a multiple of 16); 0: the suggested size.", optional=True, maximum=16384
    ),
    NodeInput(
        "height", "INT", 0, "Your image height (a multiple of 16); 0: the suggested size.", optional=True, maximum=16384
    ),
    NodeInput(
        "tokenizer",
        "STRING",
        "",
        "The target encoder's tokenizer (a local model or tokenizer directory); empty: the target's own.",
        optional=True,
    ),
    NodeInput("api_key", "STRING", "", "The expander server's API key, if it has one.", optional=True),
    NodeInput(
        "keep_model_loaded",
        "BOOLEAN",
        True,
        "Keep the local expander in memory between runs; off frees it after each run.",
        optional=True,
    ),
)

NODE_OUTPUTS: tuple[tuple[str, str, str], ...] = (
    ("expanded_prompt", "STRING", "The expansion, within the target encoder's token limit."),
    ("negative_prompt", "STRING", "Your negative prompt plus what the prompt excludes; empty for targets without."),
    ("width", "INT", "Your width, else the size the prompt asks for, else the target's native square."),
    ("height", "INT", "Your height, else the size the prompt asks for, else the target's native square."),
    ("report", "STRING", "Which of the prompt's constraints the expansion keeps, and the shaping, as text."),
)
"""(name, ComfyUI type, tooltip) of each output, in order."""


def v1_input_types() -> dict:
    """The node's inputs as a V1 node's `INPUT_TYPES()` returns them (and as ComfyUI derives them from a V3
    schema): `{"required": {name: (type, options)}, "optional": {...}}`, a COMBO's type being its choices."""
    out: dict[str, dict] = {"required": {}}
    for spec in NODE_INPUTS:
        options = {"default": spec.default, "tooltip": spec.tooltip}
        if spec.kind == "STRING":
            options["multiline"] = spec.multiline
        if spec.minimum is not None:
            options["min"] = spec.minimum
        if spec.maximum is not None:
            options["max"] = spec.maximum
        if spec.control_after_generate:
            options["control_after_generate"] = True
        kind = list(spec.options) if spec.kind == "COMBO" else spec.kind
        out.setdefault("optional" if spec.optional else "required", {})[spec.name] = (kind, options)
    return out


@dataclass(frozen=True)
class NodeSettings:
    """The node's inputs, checked: one field per `NODE_INPUTS` entry."""

    prompt: str
    creativity: str = DEFAULT_CREATIVITY
    seed: int = 0
    keep_terms: str = ""
    candidates: int = 1
    target: str = DEFAULT_TARGET
    model: str = DEFAULT_MODEL
    server_url: str = ""
    max_words: int = 0
    negative_prompt: str = ""
    width: int = 0
    height: int = 0
    tokenizer: str = ""
    api_key: str = ""
    keep_model_loaded: bool = True

    @classmethod
    def from_inputs(cls, **inputs) -> NodeSettings:
        """Settings from the keyword arguments ComfyUI passes (unknown names are an error naming them).

        Raises:
            ConfigError: an unknown input, a candidate count < 1, a seed below -1, one of width/height only.
            PromptError: an unknown creativity. TargetError: an unknown target, a size not a multiple of 16.
        """
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(inputs) - known)
        if unknown:
            raise ConfigError(f"unknown input {unknown[0]!r} of {NODE_ID}; inputs: {', '.join(sorted(known))}")
        settings = cls(**inputs)
        creativity_settings(settings.creativity)  # PromptError naming the levels
        if settings.max_words < 0:
            raise ConfigError(f"max_words must be >= 0 (0: the creativity's budget), got {settings.max_words}")
        if settings.candidates < 1:
            raise ConfigError(f"candidates must be >= 1, got {settings.candidates}")
        if settings.seed < -1:
            raise ConfigError(f"seed must be >= 0, or -1 for a new seed every run; got {settings.seed}")
        get_target(settings.target)
        if bool(settings.width) != bool(settings.height):
            raise ConfigError("set both width and height, or neither (0 and 0: the suggested size)")
        check_size(settings.width or None, settings.height or None)
        return settings

    @property
    def keep(self) -> list[str]:
        return [t.strip() for t in self.keep_terms.split(",") if t.strip()]

    @property
    def seeded(self) -> bool:
        return self.seed >= 0 or self.creativity == "raw"


@dataclass(frozen=True)
class NodeResult:
    """The node's outputs (`NODE_OUTPUTS` order: `as_tuple`)."""

    expanded_prompt: str
    negative_prompt: str
    width: int
    height: int
    report: str

    def as_tuple(self) -> tuple:
        return (self.expanded_prompt, self.negative_prompt, self.width, self.height, self.report)


class NodeRunner:
    """Runs the node: holds the local expander between runs (one model at a time) and the results it made.

    Attributes:
        model_calls: expansions made by a model or server call (not answered from memory), over its life.
        results: fingerprint -> result of the last `cache_size` seeded runs.
    """

    def __init__(self, cache_size: int = 64):
        self.cache_size = cache_size
        self.results: OrderedDict[str, NodeResult] = OrderedDict()
        self.model_calls = 0
        self._engine = None
        self._engine_model: str | None = None
        self._clients: dict[tuple[str, str], object] = {}

    def fingerprint(self, **inputs) -> str | float:
        """ComfyUI's cache key for these inputs: equal for the same inputs, seed and model weights; NaN (never
        equal, so the node always runs) for seed -1."""
        settings = NodeSettings.from_inputs(**inputs)
        if not settings.seeded:
            return math.nan
        state = asdict(settings)
        del state["keep_model_loaded"], state["api_key"]  # they do not change the result
        state["source"] = self._source_revision(settings)
        return hashlib.sha256(json.dumps(state, sort_keys=True).encode()).hexdigest()

    def run(self, **inputs) -> NodeResult:
        """Expand, shape and report; a seeded run with a fingerprint already seen is answered from memory.

        Raises:
            What `NodeSettings.from_inputs` raises; PromptError for an empty prompt; ModelNotFoundError for a
            model that cannot be found; ExpanderAPIError when the server refuses; TargetTokenizerError for a
            target tokenizer that cannot be loaded.
        """
        settings = NodeSettings.from_inputs(**inputs)
        key = self.fingerprint(**inputs) if settings.seeded else None
        if key is not None and key in self.results:
            self.results.move_to_end(key)
            return self.results[key]
        try:
            result = self._run(settings)
        finally:
            if not settings.keep_model_loaded:
                self.unload()
        if key is not None:
            self.results[key] = result
            while len(self.results) > self.cache_size:
                self.results.popitem(last=False)
        return result

    def unload(self) -> None:
        """Free the local expander (it loads again on the next run) and close server connections."""
        if self._engine is not None:
            self._engine.close()
            self._engine = self._engine_model = None
        for client in self._clients.values():
            client.close()
        self._clients.clear()

    def _run(self, s: NodeSettings) -> NodeResult:
        self.model_calls += 1
        if s.server_url:
            text, report, shaped = self._expand_on_server(s)
        else:
            text, report = self._expand_locally(s)
            shaped = None
        if shaped is None:
            shaped = shape(
                s.prompt,
                text,
                s.target,
                negative_prompt=s.negative_prompt or None,
                tokenizer=s.tokenizer or None,
                width=s.width or None,
                height=s.height or None,
            )
        side = int(math.sqrt(get_target(s.target).pixels)) // 16 * 16  # the native square, when no size is given
        return NodeResult(
            expanded_prompt=shaped.prompt,
            negative_prompt=shaped.negative_prompt or "",
            width=shaped.width or side,
            height=shaped.height or side,
            report=report_text(report, shaped),
        )

    def _expand_locally(self, s: NodeSettings) -> tuple[str, dict | None]:
        from expander.expand import expand_prompts
        from expander.models import model_languages

        engine = None if s.creativity == "raw" else self._local_engine(s.model)
        [[expansion]] = expand_prompts(
            engine,
            [s.prompt],
            creativity=s.creativity,
            seed=s.seed if s.seed >= 0 else None,
            max_words=s.max_words or None,
            keep_terms=s.keep or None,
            candidates=s.candidates,
            languages=model_languages(s.model) if engine is not None else None,
        )
        report = expansion.report if expansion.report is not None else _check(s.prompt, expansion.text)
        return expansion.text, report

    def _expand_on_server(self, s: NodeSettings):
        shaping = {"negative_prompt": s.negative_prompt or None, "width": s.width or None, "height": s.height or None}
        reply = self._client(s).expand(
            s.prompt,
            seed=s.seed if s.seed >= 0 else None,
            creativity=s.creativity,
            keep_terms=s.keep or None,
            max_words=s.max_words or None,
            target=s.target,
            candidates=s.candidates,
            **{k: v for k, v in shaping.items() if v is not None},
        )
        expansion = reply.expansions[0]
        report = expansion.constraints.model_dump() if expansion.constraints is not None else None
        # The server shapes with its own copy of the target tokenizer; with a tokenizer input, shape here.
        return expansion.text, report, None if s.tokenizer else expansion.shaped

    def _local_engine(self, model: str):
        if self._engine is not None and self._engine_model != model:
            self.unload()
        if self._engine is None:
            from expander.engine import create_engine
            from expander.models import resolve_adapter

            logger.info("loading the expander %s", model)
            self._engine = create_engine(model, adapter=resolve_adapter(model, "default"))
            self._engine_model = model
        return self._engine

    def _client(self, s: NodeSettings):
        key = (s.server_url, s.api_key)
        if key not in self._clients:
            from expander.client import ExpanderClient

            self._clients[key] = ExpanderClient(s.server_url, api_key=s.api_key or None)
        return self._clients[key]

    def _source_revision(self, s: NodeSettings) -> object:
        """What the result depends on besides the inputs: the served models' revisions, or the local weights."""
        if s.server_url:
            return [(m.id, m.revision) for m in self._client(s).models().data]
        if s.creativity == "raw":
            return None
        from expander.models import resolve_adapter, resolve_model, weights_revision

        adapter = resolve_adapter(s.model, "default")
        return weights_revision(resolve_model(s.model), *([adapter] if adapter else []))


def _check(prompt: str, text: str) -> dict | None:
    """The constraint report of `text`, or None without the `constraints` extra."""
    from expander.errors import MissingExtraError

    try:
        from expander.constraints import check, require_constraints

        require_constraints("the constraint report")
    except (ImportError, MissingExtraError):
        return None
    return check(prompt, text).to_dict()


def report_text(report: dict | None, shaped) -> str:
    """The constraint report (`ConstraintReport.to_dict()`, or the API's) and the shaping, as lines of text."""
    lines = []
    if report is None:
        lines.append("constraints: not checked (install the `constraints` extra)")
    else:
        kept = report.get("satisfied") or []
        broken = report.get("violated") or []
        verdict = "yes" if report.get("faithful", report.get("ok")) else "no"
        total = report.get("n_constraints", len(kept) + len(broken))
        score = f"score {report['score']:.2f}, " if report.get("score") is not None else ""
        lines.append(f"faithful: {verdict} ({score}{total - len(broken)} of {total} constraints kept)")
        lines += [f"broken: {v.get('reason') or v}" for v in broken]
        lines += [f"added: {a.get('word')} ({a.get('kind')})" for a in report.get("added") or []]
        if kept:
            lines.append("kept: " + "; ".join(f"{c.get('kind')} '{c.get('text')}'" for c in kept))
    size = f"{shaped.width}x{shaped.height}" if shaped.width else "none suggested"
    if shaped.width and shaped.size_reason:
        size += f" ({shaped.aspect_ratio}, from '{shaped.size_reason}')"
    lines.append(
        f"target: {shaped.target}, {shaped.tokens}/{shaped.token_limit} tokens"
        + (" (shortened to fit)" if shaped.shortened else "")
        + f", size {size}"
    )
    return "\n".join(lines)


RUNNER = NodeRunner()
"""The runner the pack's nodes share (one loaded expander per ComfyUI process)."""
