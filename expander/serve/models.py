"""The served-models registry: which names a server answers to, which weights each name means, and their
revisions (after vLLM's `OpenAIServingModels`, `vllm/entrypoints/openai/models/serving.py`).

A server runs one engine on one base model. Its names are the engine's own weights (the base model, or the
default adapter merged into it) plus every runtime LoRA adapter; a request's `model` picks one. The file-system
work (the built-in model's shipped adapter, adapter directories) happens here, when the service is built, not
in `ServeConfig`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from expander.errors import ExpanderError
from expander.models import merged_model_dir, resolve_adapter, resolve_model, weights_revision
from expander.serve.config import ADAPTER_NAME_PATTERN, ServeConfig
from expander.serve.errors import ServiceError

__all__ = ["ServedModelError", "ServedModels"]


class ServedModelError(ExpanderError, ValueError):
    """A served-models setup that cannot work: a bad adapter name or directory, a name clash, an unserved default."""


@dataclass
class ServedModels:
    """The names one server serves. Build with `ServedModels.from_config`.

    Attributes:
        base_model: the base model reference (`ServeConfig.model`).
        base_name: the name of the engine's own weights: the base model's served name, or the default adapter's
            name when it is served merged.
        adapters: runtime LoRA adapters, name -> PEFT adapter directory.
        default_model: the name used when a request gives none.
        merged: (name, dir) of the default adapter when it is merged into the engine's weights, else None.
        revisions: name -> content hash of its weights (`load_revisions`; empty until then).
    """

    base_model: str
    base_name: str
    adapters: dict[str, str]
    default_model: str
    merged: tuple[str, str] | None = None
    revisions: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_config(cls, config: ServeConfig) -> ServedModels:
        """Resolve the config's adapters (the shipped default adapter included) into served names.

        Raises:
            ServedModelError: an adapter name or directory that cannot be served, a name clash, or a
                `default_model` that is not served.
        """
        adapters = dict(config.adapters)
        default_model = config.default_model
        if config.default_adapter != "none":
            path = resolve_adapter(str(config.model), config.default_adapter)
            if path is not None and path not in adapters.values():
                name = Path(path).name
                adapters = {name: str(path), **adapters}
                default_model = default_model or name
        for name, path in adapters.items():
            if not re.fullmatch(ADAPTER_NAME_PATTERN, str(name)):
                raise ServedModelError(f"adapter name {name!r} must be 1-64 letters, digits or . _ : -")
            if not (Path(path) / "adapter_config.json").is_file():
                raise ServedModelError(
                    f"adapters.{name}: {path!r} is not a PEFT adapter directory (no adapter_config.json)"
                )
        merged = None
        if config.merge_default_adapter and config.default_adapter != "none" and len(adapters) == 1:
            [(name, path)] = adapters.items()
            merged = (name, path) if name == default_model else None
        if merged is not None:
            base_name, adapters = merged[0], {}
        else:
            base_name = config.base_name()
        if base_name in adapters:
            raise ServedModelError(f"adapter name {base_name!r} clashes with the base model's served name")
        served = cls(str(config.model), base_name, adapters, default_model or base_name, merged)
        if served.default_model not in served.names():
            raise ServedModelError(f"default_model {served.default_model!r} is not served; known: {served.names()}")
        return served

    def names(self) -> list[str]:
        """Every served name: the engine's own weights first, then the adapters in name order."""
        return [self.base_name] + sorted(self.adapters)

    def resolve(self, name: str | None, param: str = "model") -> str | None:
        """The runtime adapter a requested name selects (None = the engine's own weights).

        Raises:
            ServiceError: 404 naming the known models, for a name that is not served.
        """
        name = name or self.default_model
        if name == self.base_name:
            return None
        if name in self.adapters:
            return name
        raise ServiceError(
            404,
            f"unknown model {name!r}; known models: {', '.join(self.names())}",
            "not_found_error",
            param=param,
            code="model_not_found",
            known=self.names(),
        )

    def engine_weights(self, base_path: Path | str | None = None) -> tuple[Path | str, dict[str, str]]:
        """(model path the engine loads, runtime adapters): the merged weights when the default adapter is
        merged (made once per base + adapter content, cached), else the base.

        Args:
            base_path: the base model's resolved directory, if the caller already has it.
        """
        path = base_path or resolve_model(self.base_model)
        if self.merged is not None:
            return merged_model_dir(path, self.merged[1]), {}
        return path, dict(self.adapters)

    def load_revisions(self, base_path: Path | str) -> dict[str, str]:
        """Hash every served name's weights into `revisions` (same revision + request + seed = same text)."""
        base_rev = weights_revision(base_path)
        if self.merged is not None:
            # Merged weights get their own revision: the same text as the runtime LoRA is not promised.
            revisions = {self.merged[0]: f"{base_rev}+{weights_revision(self.merged[1])}.merged"}
        else:
            revisions = {self.base_name: base_rev}
        for name, path in self.adapters.items():
            revisions[name] = f"{base_rev}+{weights_revision(path)}"
        self.revisions = revisions
        return revisions

    def model_list(self, created: int):
        """`GET /v1/models`: one card per served name."""
        from expander.protocol import ModelCard, ModelList

        cards = [
            ModelCard(
                id=self.base_name,
                created=created,
                revision=self.revisions.get(self.base_name, ""),
                base=self.base_model,
                adapter=self.merged[1] if self.merged else None,
            )
        ]
        cards += [
            ModelCard(
                id=n,
                created=created,
                revision=self.revisions.get(n, ""),
                base=self.base_model,
                adapter=str(self.adapters[n]),
            )
            for n in sorted(self.adapters)
        ]
        return ModelList(data=cards)
