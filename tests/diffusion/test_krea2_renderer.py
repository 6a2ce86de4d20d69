"""Krea2Renderer against diffusers' Krea2Pipeline on the same tiny weights and seeds."""

from __future__ import annotations

import pytest
import torch

from diffusion import Krea2Renderer

SIZE = 64
STEPS = 2  # the preset's 8 steps add time, not coverage (the pipeline comparison uses 4)
PIXEL = 1 / 255
PROMPTS = [
    "a red fox in snow",
    "a lighthouse on a cliff at dusk, waves crashing below, long exposure",
    "two cats",
    'an isometric pixel-art city block with neon signs that read "OPEN 24H" and rain on the street',
    "a bowl of ramen",
    "portrait of an old sailor, oil painting, thick brush strokes, warm light from the left",
    "a tiny robot watering a plant",
    "",
]


@pytest.fixture()
def renderer(tiny_krea2_dir):
    return Krea2Renderer.from_pretrained(tiny_krea2_dir, preset="turbo", batch_size=8)


def _render(renderer, prompts, seeds, **kwargs):
    kwargs = {"height": SIZE, "width": SIZE, "num_inference_steps": STEPS, **kwargs}
    return renderer.render(prompts, seeds, **kwargs)


def _pipeline(path):
    from diffusers import Krea2Pipeline

    from diffusion.prompt_template import configure_prompt_template

    pipe = Krea2Pipeline.from_pretrained(path)
    configure_prompt_template(pipe)  # the token counts are not saved: set after every from_pretrained
    pipe.set_progress_bar_config(disable=True)
    return pipe


def _pipeline_image(pipe, prompt, seed, steps, guidance):
    return pipe(
        prompt,
        height=SIZE,
        width=SIZE,
        num_inference_steps=steps,
        guidance_scale=guidance,
        generator=torch.Generator("cpu").manual_seed(seed),
        output_type="pt",
    ).images


def test_matches_diffusers_pipeline_turbo(renderer, tiny_krea2_dir):
    prompts, seeds = PROMPTS[:3], [11, 12, 13]
    ours = renderer.render(prompts, seeds, height=SIZE, width=SIZE, num_inference_steps=4, output_type="pt")
    pipe = _pipeline(tiny_krea2_dir)
    ref = torch.cat([_pipeline_image(pipe, p, s, steps=4, guidance=0.0) for p, s in zip(prompts, seeds)])
    assert ours.shape == ref.shape == (3, 3, SIZE, SIZE)
    assert (ours - ref).abs().mean().item() < PIXEL
    # The images are not all alike: the comparison would catch a renderer that ignored its inputs.
    assert (ref[0] - ref[1]).abs().mean().item() > 10 * PIXEL


def test_matches_diffusers_pipeline_with_guidance(tiny_krea2_dir):
    renderer = Krea2Renderer.from_pretrained(tiny_krea2_dir, preset="raw")
    prompts, seeds = PROMPTS[1:3], [5, 6]
    ours = renderer.render(prompts, seeds, height=SIZE, width=SIZE, num_inference_steps=2, output_type="pt")
    pipe = _pipeline(tiny_krea2_dir)
    ref = torch.cat([_pipeline_image(pipe, p, s, steps=2, guidance=4.5) for p, s in zip(prompts, seeds)])
    error = (ours - ref).abs().mean().item()
    assert error < PIXEL
    # Random tiny weights condition weakly on text, so guidance moves pixels only a little; the guided
    # pipeline must still match far better than the unguided render does.
    unguided = renderer.render(
        prompts, seeds, height=SIZE, width=SIZE, num_inference_steps=2, guidance_scale=0.0, output_type="pt"
    )
    assert error < (ours - unguided).abs().mean().item() / 10


def test_batched_equals_single(renderer):
    seeds = list(range(100, 108))
    batched = _render(renderer, PROMPTS, seeds, output_type="pt")
    fresh = Krea2Renderer.from_pretrained(renderer.ref, batch_size=1)
    single = torch.cat([_render(fresh, [p], [s], output_type="pt") for p, s in zip(PROMPTS, seeds)])
    assert (batched - single).abs().mean().item() < PIXEL
    assert renderer.render_count == 8 and fresh.render_count == 8


def test_same_seed_reproduces_and_seeds_matter(renderer):
    a = _render(renderer, PROMPTS[:2], [7, 8], output_type="pt")
    b = _render(renderer, PROMPTS[:2], [7, 8], output_type="pt")
    assert torch.equal(a, b)
    other = _render(renderer, PROMPTS[:2], [9, 8], output_type="pt")
    assert (a[0] - other[0]).abs().mean().item() > 10 * PIXEL
    assert torch.equal(a[1], other[1])  # an image does not depend on its batch neighbours' seeds


def test_repeat_prompt_hits_the_text_cache(renderer):
    forward_calls = []
    renderer.pipe.text_encoder.register_forward_hook(lambda *_: forward_calls.append(1))
    _render(renderer, PROMPTS[:3], [1, 2, 3])
    assert len(forward_calls) == renderer.text_encoder_calls == 1
    _render(renderer, PROMPTS[:3], [4, 5, 6])  # same prompts, new seeds
    _render(renderer, [PROMPTS[0]] * 4, [7, 8, 9, 10])
    assert len(forward_calls) == renderer.text_encoder_calls == 1
    assert renderer.text_cache.hits == 3 + 1  # one lookup per distinct prompt per call
    _render(renderer, [PROMPTS[3]], [1])  # a new prompt runs the encoder again
    assert len(forward_calls) == renderer.text_encoder_calls == 2
    assert renderer.render_count == 3 + 3 + 4 + 1


def test_cache_disabled_encodes_every_call(tiny_krea2_dir):
    renderer = Krea2Renderer.from_pretrained(tiny_krea2_dir, text_cache_size=0)
    _render(renderer, [PROMPTS[0]], [1])
    _render(renderer, [PROMPTS[0]], [2])
    assert renderer.text_encoder_calls == 2 and len(renderer.text_cache) == 0


def test_pil_output_is_the_tensor_output_in_8_bits(renderer):
    import numpy as np

    tensor = _render(renderer, PROMPTS[:2], [3, 4], width=80, output_type="pt")
    images = _render(renderer, PROMPTS[:2], [3, 4], width=80)
    assert tensor.device.type == "cpu" and tensor.dtype == torch.float32
    assert 0.0 <= tensor.min().item() and tensor.max().item() <= 1.0
    assert [im.size for im in images] == [(80, SIZE)] * 2
    eight_bit = (tensor[0].permute(1, 2, 0).numpy() * 255).round().astype("uint8")
    assert np.array_equal(np.asarray(images[0]), eight_bit)
    assert renderer.render_count == 4  # no image cache here: a repeat call renders again


def test_duplicate_pairs_in_one_call_render_once(renderer):
    out = _render(renderer, [PROMPTS[0], PROMPTS[0], PROMPTS[2]], [5, 5, 5], output_type="pt")
    assert renderer.render_count == 2
    assert torch.equal(out[0], out[1]) and not torch.equal(out[0], out[2])


def test_sizes_are_rounded_up_with_a_warning(renderer, caplog):
    with caplog.at_level("WARNING", logger="diffusion.renderer"):
        [image] = renderer.render([PROMPTS[0]], [0], height=50, width=65, num_inference_steps=1)
    assert image.size == (80, 64)
    assert "multiples of 16" in caplog.text and "64x80" in caplog.text
    caplog.clear()
    with caplog.at_level("WARNING", logger="diffusion.renderer"):
        _render(renderer, [PROMPTS[0]], [0])
    assert "multiples of 16" not in caplog.text


def test_out_of_memory_halves_the_micro_batch(renderer):
    """A hook on the real transformer raises torch.OutOfMemoryError for batches above 2 (as a GPU would)."""

    def fail_when_large(module, args, kwargs):
        if kwargs["hidden_states"].shape[0] > 2:
            raise torch.OutOfMemoryError("simulated CUDA out of memory")

    seeds = list(range(20, 28))
    expected = _render(renderer, PROMPTS, seeds, output_type="pt")
    handle = renderer.pipe.transformer.register_forward_pre_hook(fail_when_large, with_kwargs=True)
    try:
        got = _render(renderer, PROMPTS, seeds, output_type="pt")
    finally:
        handle.remove()
    assert renderer.batch_size == 2
    assert (got - expected).abs().mean().item() < PIXEL
    assert renderer.render_count == 16


def test_settings_report_the_preset_and_template(renderer, tiny_krea2_dir):
    s = renderer.settings()
    assert (s["preset"], s["steps"], s["guidance"]) == ("turbo", 8, 0.0)
    assert s["dtype"] == "float32" and s["size_multiple"] == 16
    assert (s["template_prefix_tokens"], s["template_suffix_tokens"]) == (
        renderer.pipe.prompt_template_encode_start_idx,
        renderer.pipe.prompt_template_encode_num_suffix_tokens,
    )
    raw = Krea2Renderer.from_pretrained(tiny_krea2_dir, preset="raw").settings()
    assert (raw["preset"], raw["steps"], raw["guidance"]) == ("raw", 28, 4.5)


def test_out_of_memory_in_the_text_encoder_halves_the_micro_batch(renderer):
    def fail_when_large(module, args, kwargs):
        if kwargs["input_ids"].shape[0] > 2:
            raise torch.OutOfMemoryError("simulated CUDA out of memory")

    renderer.pipe.text_encoder.register_forward_pre_hook(fail_when_large, with_kwargs=True)
    out = _render(renderer, PROMPTS[:4], [1, 2, 3, 4], num_inference_steps=1, output_type="pt")
    assert out.shape[0] == 4 and renderer.batch_size == 2
    assert renderer.text_encoder_calls == 2  # two successful encoder batches of 2 prompts
