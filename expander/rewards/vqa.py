"""VQA faithfulness: a transformers VLM's P("Yes") to questions about an image (VQAScore), over a question graph
with DPG-Bench's parent rule.

    scorer = VqaScorer.from_config(VqaConfig(model="Qwen/Qwen3-VL-4B-Instruct"), device="cuda")
    [s] = scorer.score([image], PromptRecord("three apples on a wooden table"))
    s.score, s.items          # mean over questions after the parent rule; one dict per question

`VqaModel` is the pure core: for each (image, question) pair, the chat-templated user turn `[image, question +
instruction]`, the assistant turn opened, then the answer's tokens teacher-forced; the score is the product of their
probabilities (VQAScore, Lin et al. 2024: P("Yes" | image, "Does this figure show '{text}'? Please answer yes or
no.")). Any `AutoModelForImageTextToText` checkpoint whose processor takes `{"type": "image"}` chat parts works
(Qwen3-VL, Qwen2.5-VL, LLaVA-OneVision, SmolVLM, LLaVA); batches are left-padded so every row's answer sits at the
same positions.

`VqaScorer` (the `PromptImageScorer` of `prompt_scorers`) asks the graph of a `PromptRecord`: DPG-Bench's questions
when the record carries them, else `prompt_questions.questions_from_prompt(record.prompt)` (the SHORT prompt's
objects, counts, colours, relations, quoted text). A question's answer is P(answer) (or 1 - P for a `negated` one;
0/1 at 0.5 with `hard_answers`), then `question_graph.score_graph` zeroes the children of a failed parent.
DPG-Bench's published numbers use mPLUG-large's text answers: run its script on `official/` for those.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import torch

from expander.devices import rank_device, resolve_dtype, standalone_loading
from expander.rewards.config import VqaConfig
from expander.rewards.errors import RewardModelError
from expander.rewards.prompt_questions import questions_from_prompt, truncate_graph
from expander.rewards.prompt_scorers import ImageScore, PromptRecord
from expander.rewards.question_graph import QuestionGraph, score_graph
from expander.rewards.tiny import resolve_ref

logger = logging.getLogger(__name__)

__all__ = ["VqaModel", "VqaScorer"]


class VqaModel:
    """Pure core: P(`answer` | image, question) from a VLM.

    Args:
        model: an image-text-to-text model (eval mode, on its device).
        processor: its processor (chat template, image processing, tokenizer).
        answer: the answer text whose probability is returned ("Yes").
        name: the ref, for logs and the summary.
    """

    def __init__(self, model, processor, answer: str = "Yes", name: str = "vqa"):
        self.model = model
        self.processor = processor
        self.name = name
        self.device = next(model.parameters()).device
        tokenizer = processor.tokenizer
        tokenizer.padding_side = "left"  # every row ends where its answer starts
        if tokenizer.pad_token is None:
            tokenizer.pad_token = tokenizer.eos_token
        self.answer_ids = torch.tensor(tokenizer(answer, add_special_tokens=False)["input_ids"], dtype=torch.long)
        if self.answer_ids.numel() == 0:
            raise RewardModelError(f"VQA model {name!r}: the answer {answer!r} tokenizes to nothing")
        self.forwards = 0

    @classmethod
    def from_pretrained(cls, ref: str, device: str | None = None, dtype: str | None = None, answer: str = "Yes"):
        """Load a VLM (hub id, local directory or `tiny:vqa`).

        Raises:
            RewardModelError: it cannot be loaded (the ref and the first line of the cause are named).
        """
        from transformers import AutoModelForImageTextToText, AutoProcessor

        path = resolve_ref(ref)
        target = rank_device(device)
        try:
            with standalone_loading():
                model = AutoModelForImageTextToText.from_pretrained(path, dtype=resolve_dtype(dtype, target))
            processor = AutoProcessor.from_pretrained(path)
        except Exception as exc:
            lines = str(exc).strip().splitlines()
            cause = f"{type(exc).__name__}: {lines[0] if lines else ''}"
            raise RewardModelError(f"cannot load the VQA model {ref!r}: {cause}") from exc
        model = model.to(target).eval().requires_grad_(False)
        return cls(model, processor, answer=answer, name=ref)

    def prompt_text(self, question: str) -> str:
        """The chat-templated user turn (an image, then `question`) with the assistant turn opened."""
        messages = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": question}]}]
        return self.processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)

    @torch.inference_mode()
    def answer_probability(self, images: Sequence[Any], questions: Sequence[str], batch_size: int = 16) -> list[float]:
        """P(answer) for each (PIL image, question) pair, in [0, 1].

        Batch independent: a pair's value does not depend on what else is in its batch (left padding, masked).
        """
        if len(images) != len(questions):  # pairs built by code: a caller's bug, kept built-in
            raise ValueError(f"{len(images)} images but {len(questions)} questions")
        out: list[float] = []
        k = self.answer_ids.numel()
        for start in range(0, len(images), batch_size):
            chunk_images = [im.convert("RGB") for im in images[start : start + batch_size]]
            texts = [self.prompt_text(q) for q in questions[start : start + batch_size]]
            inputs = self.processor(text=texts, images=chunk_images, return_tensors="pt", padding=True)
            inputs = _append_answer(dict(inputs), self.answer_ids)
            inputs = {key: v.to(self.device) if torch.is_tensor(v) else v for key, v in inputs.items()}
            if "pixel_values" in inputs and inputs["pixel_values"].is_floating_point():
                inputs["pixel_values"] = inputs["pixel_values"].to(self.model.dtype)
            logits = self.model(**inputs, logits_to_keep=k + 1).logits[:, :k].float()
            self.forwards += 1
            index = self.answer_ids.to(logits.device).expand(logits.shape[0], k)[..., None]
            logp = torch.log_softmax(logits, dim=-1).gather(-1, index)
            out.extend(logp.squeeze(-1).sum(-1).exp().cpu().tolist())
        return out


def _append_answer(inputs: dict[str, Any], answer_ids: torch.Tensor) -> dict[str, Any]:
    """Append the answer's tokens to every row: ids, an attention of 1, and 0 in any other per-token tensor
    (token type ids: text)."""
    ids = inputs["input_ids"]
    n, k = ids.shape[0], answer_ids.numel()
    out = dict(inputs)
    out["input_ids"] = torch.cat([ids, answer_ids.to(ids.dtype).expand(n, k)], dim=1)
    for key, value in inputs.items():
        if key == "input_ids" or not torch.is_tensor(value) or value.shape[:2] != ids.shape:
            continue
        fill = 1 if key == "attention_mask" else 0
        out[key] = torch.cat([value, torch.full((n, k), fill, dtype=value.dtype)], dim=1)
    return out


class VqaScorer:
    """VQA faithfulness of images to one prompt (see the module docstring).

    Args:
        model: a `VqaModel` (or anything with `answer_probability(images, questions, batch_size)` and `name`).
        cfg: the questions' template and instruction, the parent rule, hard answers, limits.
    """

    name = "vqa"

    def __init__(self, model: VqaModel, cfg: VqaConfig | None = None):
        self.model = model
        self.cfg = cfg or VqaConfig()

    @classmethod
    def from_config(cls, cfg: VqaConfig, device: str | None = None) -> VqaScorer:
        """Load `cfg.model`. Raises `RewardModelError` naming the ref when it cannot."""
        return cls(VqaModel.from_pretrained(cfg.model, device=device, dtype=cfg.dtype, answer=cfg.answer), cfg)

    def describe(self) -> dict[str, Any]:
        c = self.cfg
        return {
            "vqa_model": getattr(self.model, "name", c.model),
            "vqa_question": f"{c.question_template} {c.instruction}".strip(),
            "vqa_answer": c.answer,
            "vqa_hard_answers": c.hard_answers,
            "vqa_fail_below": c.fail_below,
        }

    def graph(self, record: PromptRecord) -> QuestionGraph:
        """The record's questions (DPG-Bench's, whole), or the graph of its prompt (at most `max_questions`)."""
        if record.questions is not None:
            return record.questions
        graph = questions_from_prompt(record.prompt, self.cfg.question_template, item_id=record.prompt_id)
        return truncate_graph(graph, self.cfg.max_questions)

    def score(self, images: Sequence[Any], record: PromptRecord) -> list[ImageScore]:
        """One `ImageScore` per image: `score` the graph's mean after the parent rule, `items` one per question
        (`id`, `question`, `parents`, `p_answer`, `answer` (after negation / hard answers), `score`, `valid`)."""
        if not images:
            return []
        graph = self.graph(record)
        questions = [f"{q.text} {self.cfg.instruction}".strip() for q in graph.questions]
        pairs_images = [image for image in images for _ in questions]
        probs = self.model.answer_probability(pairs_images, questions * len(images), self.cfg.batch_size)
        out = []
        n = len(questions)
        for i in range(len(images)):
            p = dict(zip((q.id for q in graph.questions), probs[i * n : (i + 1) * n]))
            answers = {q.id: self._answer(p[q.id], q.negated) for q in graph.questions}
            result = score_graph(graph, answers, fail_below=self.cfg.fail_below)
            items = tuple(
                {
                    "id": q.id,
                    "question": q.text,
                    "parents": list(q.parents),
                    **({"negated": True} if q.negated else {}),
                    "p_answer": _sig(p[q.id]),
                    "answer": _sig(answers[q.id]),
                    "score": _sig(result.scores[q.id]),
                    "valid": result.valid[q.id],
                }
                for q in graph.questions
            )
            out.append(ImageScore(score=result.score, items=items))
        return out

    def _answer(self, p: float, negated: bool) -> float:
        value = 1.0 - p if negated else p
        if self.cfg.hard_answers:
            return 1.0 if value >= 0.5 else 0.0
        return value


def _sig(x: float) -> float:
    """`x` to 6 significant digits: a table cell that keeps a tiny P("Yes") readable."""
    return float(f"{x:.6g}")
