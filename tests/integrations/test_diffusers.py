"""The diffusers integrations end to end on tiny random models: `ExpandedPipeline` around the tiny Krea 2 and a tiny
Stable Diffusion XL (two CLIP encoders, the real CLIP tokenizer), the Modular Diffusers step in front of Krea 2's
text encoder, and `PromptExpander` in process and through the real API app.

The expander is a 2-layer random Llama with SmolLM2's tokenizer: its text is noise, but seeded, so each test can
compare what the pipeline's text encoder received with the expansion `expander.expand` makes on its own.
"""

from __future__ import annotations

import copy

import pytest
import torch

from expander.errors import ExpanderError
from expander.expand import expand_prompts
from expander.integrations import ExpandedPrompt, PromptExpander
from expander.integrations.diffusers import (
    ExpandedPipeline,
    PipelineSignatureError,
    pipeline_arguments,
    seed_from_generator,
    target_for,
)
from expander.targets import ShapedPrompt, TargetError, suggest_size

MAX_WORDS = 6  # about 26 new tokens: the tiny LM writes them in milliseconds
FOX = "a red fox in deep snow"
LIGHTHOUSE = "a tall lighthouse on a cliff, no people"  # a size (portrait) and a negative prompt ("people")
_REFERENCES: dict[tuple, str] = {}


@pytest.fixture(scope="module")
def engine(tiny_chat_lm_dir):
    """A transformers engine on a 2-layer random Llama with the built-in model's tokenizer and chat template."""
    from expander.engine import create_engine

    torch.set_num_threads(max(1, min(2, torch.get_num_threads())))
    engine = create_engine(str(tiny_chat_lm_dir), backend="transformers")
    yield engine
    engine.close()


def reference(engine, prompt: str, seed: int, keep_terms=None) -> str:
    """The expansion `expander.expand` makes of `prompt` alone (computed once per module)."""
    key = (prompt, seed, tuple(keep_terms or ()))
    if key not in _REFERENCES:
        [[expansion]] = expand_prompts(engine, [prompt], seed=seed, max_words=MAX_WORDS, keep_terms=keep_terms)
        _REFERENCES[key] = expansion.text
    return _REFERENCES[key]


@pytest.fixture(scope="module")
def krea2_pipe():
    """The tiny random Krea 2 (`tiny:krea2`, distilled like Turbo) as a plain diffusers `Krea2Pipeline`, with the
    prompt template's token counts set for its tokenizer."""
    from diffusion import Krea2Renderer
    from expander.models import resolve_krea2_model

    return Krea2Renderer.from_pretrained(resolve_krea2_model("tiny:krea2")).pipe


@pytest.fixture(scope="module")
def sdxl_pipe():
    """A tiny random `StableDiffusionXLPipeline`: two CLIP text encoders (hidden 32) behind the real CLIP
    tokenizer (OpenAI's BPE, built offline by `expander.targets`), a 2-block UNet, a 2-block VAE."""
    from diffusers import AutoencoderKL, EulerDiscreteScheduler, StableDiffusionXLPipeline, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

    from expander.targets import load_counter

    tokenizer = copy.deepcopy(load_counter("clip").tokenizer)
    assert tokenizer.model_max_length == 77  # what the pipeline pads and truncates to, as openai/clip-vit-large-patch14
    torch.manual_seed(0)
    unet = UNet2DConditionModel(
        block_out_channels=(32, 64),
        layers_per_block=1,
        sample_size=16,
        in_channels=4,
        out_channels=4,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        attention_head_dim=(2, 4),
        use_linear_projection=True,
        addition_embed_type="text_time",
        addition_time_embed_dim=8,
        transformer_layers_per_block=(1, 1),
        projection_class_embeddings_input_dim=6 * 8 + 32,  # six size ids x 8 + the pooled text (projection 32)
        cross_attention_dim=64,  # the two encoders' hidden states side by side
        norm_num_groups=1,
    )
    vae = AutoencoderKL(
        block_out_channels=[32, 64],
        in_channels=3,
        out_channels=3,
        down_block_types=["DownEncoderBlock2D"] * 2,
        up_block_types=["UpDecoderBlock2D"] * 2,
        latent_channels=4,
        norm_num_groups=1,
        sample_size=32,
    )
    text = CLIPTextConfig(
        bos_token_id=49406,
        eos_token_id=49407,
        pad_token_id=49407,
        hidden_size=32,
        intermediate_size=37,
        num_attention_heads=4,
        num_hidden_layers=2,
        vocab_size=len(tokenizer),
        projection_dim=32,
    )
    scheduler = EulerDiscreteScheduler(
        beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", steps_offset=1, timestep_spacing="leading"
    )
    pipe = StableDiffusionXLPipeline(
        vae=vae,
        text_encoder=CLIPTextModel(text),
        text_encoder_2=CLIPTextModelWithProjection(text),
        tokenizer=tokenizer,
        tokenizer_2=tokenizer,
        unet=unet,
        scheduler=scheduler,
    )
    pipe.set_progress_bar_config(disable=True)
    return pipe


def record_encode_prompt(monkeypatch, pipe) -> list[dict]:
    """Record the keyword arguments of every `pipe.encode_prompt` call (the text the encoders receive)."""
    calls: list[dict] = []
    original = pipe.encode_prompt

    def encode_prompt(*args, **kwargs):
        calls.append(dict(kwargs, args=args))
        return original(*args, **kwargs)

    monkeypatch.setattr(pipe, "encode_prompt", encode_prompt)
    return calls


def test_sdxl_encoders_receive_the_shaped_expansion_and_the_negative_prompt_the_prompt_implies(
    engine, sdxl_pipe, monkeypatch
):
    calls = record_encode_prompt(monkeypatch, sdxl_pipe)
    pipe = ExpandedPipeline(sdxl_pipe, PromptExpander(engine, max_words=MAX_WORDS))
    prompt = LIGHTHOUSE
    out = pipe(prompt, expansion_seed=7, width=32, height=32, num_inference_steps=2, keep_terms=["lighthouse"])

    assert pipe.target == "sdxl" and len(out.images) == 1 and out.images[0].size == (32, 32)
    [expanded] = out.prompts
    expansion = reference(engine, prompt, 7, keep_terms=["lighthouse"])
    assert expanded.expansion == expansion and expansion != prompt and "lighthouse" in expansion
    shaped = expanded.shaped
    assert shaped.prompt_2 is not None and shaped.prompt_2_tokens <= 77 and shaped.tokens <= 77
    [call] = calls
    assert (call["prompt"], call["prompt_2"], call["negative_prompt"]) == (shaped.prompt, shaped.prompt_2, "people")
    # The caller's size wins over the one the prompt suggests (a tall lighthouse: portrait), and is reported.
    assert suggest_size(prompt, target="sdxl").height > suggest_size(prompt, target="sdxl").width
    assert out.arguments == {
        "prompt": shaped.prompt,
        "prompt_2": shaped.prompt_2,
        "negative_prompt": "people",
        "width": 32,
        "height": 32,
    }


def test_krea2_turbo_gets_the_expansion_seeded_by_the_generator_and_runs_it_once(engine, krea2_pipe, monkeypatch):
    calls = record_encode_prompt(monkeypatch, krea2_pipe)
    expander = PromptExpander(engine, max_words=MAX_WORDS)
    pipe = ExpandedPipeline(krea2_pipe, expander)
    prompt = FOX
    settings = dict(height=64, width=64, num_inference_steps=2, guidance_scale=0.0)

    first = pipe(prompt, generator=torch.Generator().manual_seed(5), **settings)
    assert pipe.target == "krea2-turbo" and first.images[0].size == (64, 64)
    [expanded] = first.prompts
    assert expanded.seed == 5 and expanded.expansion == reference(engine, prompt, 5) and not expanded.cached
    assert calls[-1]["prompt"] == expanded.shaped.prompt != prompt
    assert "negative_prompt" not in first.arguments  # Turbo runs without guidance: it takes none

    # Same prompt, same generator seed: from memory. `refresh=True` runs the expander again.
    again = pipe(prompt, generator=torch.Generator().manual_seed(5), **settings)
    assert expander.calls == 1 and again.prompts[0].cached and calls[-1]["prompt"] == expanded.shaped.prompt
    assert pipe.expand_prompts(prompt, expansion_seed=5, refresh=True)[0].cached is False and expander.calls == 2

    # Switched off: the text encoder receives the user's prompt as it is.
    plain = pipe(prompt, expand=False, generator=torch.Generator().manual_seed(5), **settings)
    assert calls[-1]["prompt"] == prompt and plain.prompts == [] and expander.calls == 2
    assert pipe.upsample_prompt(prompt, expansion_seed=5) == [expanded.shaped.prompt]  # diffusers' form


def test_the_modular_step_expands_in_front_of_krea2s_text_encoder_when_switched_on(engine, monkeypatch):
    import diffusers.modular_pipelines.krea2.encoders as krea2_encoders
    from diffusers.modular_pipelines import Krea2TurboAutoBlocks

    from diffusion.tiny import TINY_SELECT_LAYERS
    from expander.integrations.modular import add_prompt_enhancer
    from expander.models import resolve_krea2_model

    # The modular Krea 2 text step hard-codes the taps of the full 36-layer encoder; the tiny one has 4 layers.
    monkeypatch.setattr(krea2_encoders, "KREA2_TEXT_ENCODER_SELECT_LAYERS", TINY_SELECT_LAYERS)
    encoded: list[list[str]] = []
    original = krea2_encoders.Krea2TextEncoderStep._encode_prompt

    def encode(self, components, prompt, *args):
        encoded.append(list(prompt))
        return original(self, components, prompt, *args)

    monkeypatch.setattr(krea2_encoders.Krea2TextEncoderStep, "_encode_prompt", encode)

    blocks = add_prompt_enhancer(Krea2TurboAutoBlocks())
    assert list(blocks.sub_blocks) == ["prompt_enhancer", "text_encoder", "denoise", "decode"]
    pipe = blocks.init_pipeline(str(resolve_krea2_model("tiny:krea2")))
    pipe.load_components(dtype=torch.float32)
    expander = PromptExpander(engine, max_words=MAX_WORDS)
    pipe.update_components(prompt_expander=expander)
    prompt = FOX
    run = dict(height=64, width=64, num_inference_steps=2, generator=torch.Generator().manual_seed(3))

    out = pipe(prompt=prompt, use_prompt_enhancer=True, prompt_enhancer_seed=5, output=["images", "prompt"], **run)
    expansion = reference(engine, prompt, 5)
    assert out["images"][0].size == (64, 64) and encoded[-1] == out["prompt"] == [expansion] != [prompt]

    pipe(prompt=prompt, output="images", **run)  # no switch: the step is skipped
    assert encoded[-1] == [prompt] and expander.calls == 1


def test_the_modular_step_alone_resolves_the_size_the_prompt_asks_for(engine):
    from expander.integrations.modular import ExpanderAutoPromptEnhancerStep

    pipe = ExpanderAutoPromptEnhancerStep().init_pipeline()
    pipe.update_components(prompt_expander=PromptExpander(engine, max_words=MAX_WORDS))
    prompt = LIGHTHOUSE
    keys = ["prompt", "height", "width", "negative_prompt", "prompt_enhancer_prompts"]
    switch = dict(
        use_prompt_enhancer=True,
        prompt_enhancer_seed=7,
        prompt_enhancer_keep_terms=["lighthouse"],
        prompt_enhancer_target="generic",
    )
    out = pipe(prompt=prompt, output=keys, **switch)
    size = suggest_size(prompt, target="generic")
    assert (out["width"], out["height"]) == (size.width, size.height) and size.height > size.width
    assert out["prompt"] == [reference(engine, prompt, 7, keep_terms=["lighthouse"])]
    assert out["negative_prompt"] == ["people"] and out["prompt_enhancer_prompts"][0].seed == 7

    given = pipe(prompt=prompt, height=512, width=768, output=keys, **switch)
    assert (given["width"], given["height"]) == (768, 512)  # the caller's size wins
    assert given["prompt_enhancer_prompts"][0].cached


def test_the_api_gives_the_same_expansion_as_the_engine_in_process(engine):
    """`PromptExpander` on a server URL: the real app on the same tiny model, served by uvicorn in a thread."""
    import socket
    import threading

    import uvicorn

    from expander.serve.app import create_app
    from expander.serve.config import ServeConfig

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    config = ServeConfig(backend="transformers", model=str(engine.model_path), default_adapter="none", api_key_env="")
    server = uvicorn.Server(uvicorn.Config(create_app(config), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        remote = PromptExpander(f"http://127.0.0.1:{port}", max_words=MAX_WORDS)
        remote.client.wait_until_ready(timeout_s=120, poll_s=0.05)
        [shaped] = remote.expand_for(FOX, "krea2-turbo", seed=5, tokenizer="smollm2-135m")
        remote.close()
    finally:
        server.should_exit = True
        thread.join(timeout=30)
    assert shaped.expansion == reference(engine, FOX, 5) and shaped.seed == 5


def hand_shaped(prompt: str, short: str | None, negative: str | None, size=(None, None)) -> ExpandedPrompt:
    width, height = size
    shaped = ShapedPrompt("t", prompt, short, negative, None, width, height, 9, 77, "clip", False)
    return ExpandedPrompt("p", prompt, 0, shaped)


def test_pipeline_arguments_fill_only_what_the_pipeline_takes_and_the_caller_left_open():
    sdxl = {"prompt", "prompt_2", "negative_prompt", "width", "height"}
    one = [hand_shaped("LONG", "SHORT", "cars", (832, 1248))]
    assert pipeline_arguments(sdxl, one, {}, single=True) == {
        "prompt": "LONG",
        "prompt_2": "SHORT",
        "negative_prompt": "cars",
        "width": 832,
        "height": 1248,
    }
    # SD3: both CLIP encoders get the short text and T5 (`prompt_3`) the long one.
    sd3 = sdxl | {"prompt_3"}
    assert pipeline_arguments(sd3, one, {"width": 512, "height": 512}, single=True) == {
        "prompt": "SHORT",
        "prompt_2": "SHORT",
        "prompt_3": "LONG",
        "negative_prompt": "cars",
    }
    # A pipeline that takes only a prompt; an empty negative prompt is not passed (SDXL zeroes a missing one).
    assert pipeline_arguments({"prompt"}, one, {}, single=True) == {"prompt": "LONG"}
    assert "negative_prompt" not in pipeline_arguments(sdxl, [hand_shaped("A", None, "")], {}, single=True)
    # A batch is one size: suggested only when every prompt suggests the same one; texts become lists.
    batch = [hand_shaped("A", None, None, (832, 1248)), hand_shaped("B", None, None, (1248, 832))]
    assert pipeline_arguments(sdxl, batch, {}, single=False) == {"prompt": ["A", "B"]}


def test_targets_come_from_the_pipeline_class_and_seeds_from_its_generator(krea2_pipe, sdxl_pipe):
    assert (target_for(krea2_pipe), target_for(sdxl_pipe), target_for(object())) == ("krea2-turbo", "sdxl", "generic")
    generator = torch.Generator().manual_seed(2**40 + 3)
    state = generator.get_state()
    assert seed_from_generator([generator]) == seed_from_generator(generator) < 2**31
    assert torch.equal(generator.get_state(), state) and seed_from_generator(None) is None


def test_bad_pipelines_targets_and_sizes_are_expander_errors_before_the_model_runs(engine, sdxl_pipe):
    class ImageToImage:
        def __call__(self, image, strength: float = 0.5): ...

    with pytest.raises(PipelineSignatureError, match=r"ImageToImage.*no `prompt`.*image, strength"):
        ExpandedPipeline(ImageToImage(), PromptExpander(engine))
    with pytest.raises(TargetError, match="unknown target 'sdxxl'"):
        ExpandedPipeline(sdxl_pipe, PromptExpander(engine), target="sdxxl")
    expander = PromptExpander(engine, max_words=MAX_WORDS)
    with pytest.raises(TargetError, match="width"):
        ExpandedPipeline(sdxl_pipe, expander)("a fox", width=40, height=32)
    with pytest.raises(ExpanderError, match="source"):
        PromptExpander(3.5)
    assert expander.calls == 0
