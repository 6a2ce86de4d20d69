"""The optional learned moderator: a transformers text-classification model as a second layer over the policy.

Configured but unloadable (or failing while it runs), it raises `ModeratorUnavailable`, and callers fail
closed: a request is refused, a completion is gated.
"""

from __future__ import annotations

from pathlib import Path

from expander.errors import ConfigError, ExpanderError

__all__ = ["ModeratorUnavailable", "TextModerator"]

_SAFE_LABELS = {"safe", "ok", "neutral", "normal", "none", "non-toxic", "non_toxic", "not_toxic", "clean", "sfw"}


class ModeratorUnavailable(ExpanderError, RuntimeError):
    """A configured moderation model could not be loaded or run: callers must fail closed."""


class TextModerator:
    """A transformers text-classification model used as a second moderation layer.

    Args:
        model_ref: a local model directory or a hub id of a sequence-classification model.
        threshold: a label counts when its probability is >= this.
        flag_labels: labels that mean "unsafe"; default every label not in a safe-label list
            (`safe`, `neutral`, `non-toxic`, ...).
        device: torch device; default CPU.

    Raises:
        ConfigError: `threshold` outside (0, 1], or `flag_labels` that are not labels of the model.
        ModeratorUnavailable: the model cannot be loaded (missing dir, no hub, broken files).
    """

    def __init__(
        self,
        model_ref: str | Path,
        threshold: float = 0.5,
        flag_labels: list[str] | None = None,
        device: str | None = None,
    ):
        if not 0.0 < threshold <= 1.0:
            raise ConfigError(f"moderation threshold must be in (0, 1], got {threshold}")
        self.model_ref = str(model_ref)
        self.threshold = threshold
        try:
            from transformers import pipeline

            self.pipe = pipeline("text-classification", model=self.model_ref, device=device or "cpu", top_k=None)
        except Exception as exc:  # any loading failure means we cannot moderate: the caller fails closed
            raise ModeratorUnavailable(f"moderation model {self.model_ref!r} is unavailable: {exc}") from exc
        labels = list(self.pipe.model.config.id2label.values())
        if flag_labels is None:
            flag_labels = [lab for lab in labels if lab.lower() not in _SAFE_LABELS]
        unknown = sorted(set(flag_labels) - set(labels))
        if unknown:
            raise ConfigError(f"moderation flag_labels {unknown} are not labels of {self.model_ref!r}; it has {labels}")
        self.flag_labels = list(flag_labels)

    def flagged(self, texts: list[str]) -> list[list[str]]:
        """For each text, the flagged labels as categories `model:<label>` (empty list = passed).

        Raises:
            ModeratorUnavailable: the model failed while running.
        """
        if not texts:
            return []
        try:
            outputs = self.pipe(list(texts), truncation=True)
        except Exception as exc:
            raise ModeratorUnavailable(f"moderation model {self.model_ref!r} failed: {exc}") from exc
        result = []
        for scores in outputs:
            if isinstance(scores, dict):
                scores = [scores]
            result.append(
                [
                    f"model:{s['label']}"
                    for s in scores
                    if s["label"] in self.flag_labels and s["score"] >= self.threshold
                ]
            )
        return result
