"""Outputs shaped for the image model (`expander.targets`): token budgets measured with the target's own
tokenizer, the short CLIP variant, the negative prompt from the prompt's own exclusions, suggested sizes, and
the `expander expand --target` flag. Offline: CLIP's BPE ships in open_clip, Krea 2 is the tiny random one
(its tokenizer is the built-in SmolLM2's), and the built-in SmolLM2 tokenizer stands in for T5 where a test
needs a long-prompt encoder.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys

import pytest

from expander.cli import main
from expander.targets import (
    CLIP_TOKEN_LIMIT,
    TARGETS,
    TargetError,
    check_size,
    fit_text,
    get_target,
    load_counter,
    shape,
    suggest_size,
)

SENTENCES = [
    "A lighthouse stands on a basalt cliff above a grey winter sea.",
    "Its white tower is streaked with rust, and the lantern glows amber in the dusk.",
    "Waves break against the rocks below, throwing spray into the cold air.",
    "Low clouds drift across the horizon, lit pink by the last of the sun.",
    "A narrow stone path winds up the cliff to a wooden door.",
]
LONG = " ".join(SENTENCES * 12)  # about 1,000 CLIP tokens


@pytest.fixture(scope="module")
def clip():
    return load_counter("clip")


def test_importing_targets_loads_neither_torch_nor_transformers():
    code = "import sys, expander.targets; print(sorted({'torch', 'transformers'} & set(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert out.stdout.strip() == "[]"


def test_the_issues_targets_exist_and_an_unknown_one_names_the_choices():
    assert list(TARGETS) == ["krea2", "krea2-turbo", "flux", "sdxl", "sd3", "generic"]
    with pytest.raises(TargetError, match=r"unknown target 'sdxl-turbo'; choose one of: krea2, krea2-turbo, flux"):
        get_target("sdxl-turbo")
    with pytest.raises(TargetError):
        shape("a fox", "a fox", "midjourney")


def test_the_clip_tokenizer_is_openais_bpe_offline(clip):
    # OpenAI CLIP's ids for this sentence (BOS 49406, EOS 49407), as every CLIP tokenizer on the hub gives them.
    assert clip.tokenizer("a photo of a cat")["input_ids"] == [49406, 320, 1125, 539, 320, 2368, 49407]
    assert len(clip.tokenizer) == 49408 and clip.count("a photo of a cat") == 7


def test_fit_text_keeps_whole_sentences_and_falls_back_to_words(clip):
    text = " ".join(SENTENCES)
    whole = [clip.count(" ".join(SENTENCES[:k])) for k in range(1, len(SENTENCES) + 1)]
    limit = whole[2] + 3  # three sentences fit, four do not
    fitted, n = fit_text(text, limit, clip.count)
    assert fitted == " ".join(SENTENCES[:3]) and n == whole[2] <= limit
    assert fit_text(text, 10_000, clip.count) == (text, whole[-1])  # a text that fits is left alone

    one = "a " + " ".join(["very"] * 120) + " tall lighthouse"  # one clause, longer than 77 tokens
    fitted, n = fit_text(one, CLIP_TOKEN_LIMIT, clip.count)
    assert one.startswith(fitted) and n == clip.count(fitted) <= CLIP_TOKEN_LIMIT
    assert clip.count(one[: len(fitted) + 5]) > CLIP_TOKEN_LIMIT  # the next word would not fit


def test_krea2s_own_pipeline_reads_every_token_of_the_shaped_prompt():
    """Krea 2 silently truncates past 512 template tokens; the shaped prompt is cut at a sentence end before
    that, and the count we report is what the pipeline keeps."""
    import torch
    from diffusers import Krea2Pipeline

    from expander.models import resolve_krea2_model

    pipe = Krea2Pipeline.from_pretrained(resolve_krea2_model("tiny:krea2"))
    suffix = len(pipe.tokenizer(pipe.prompt_template_encode_suffix)["input_ids"])

    def kept_by_pipeline(text: str) -> int:  # prompt tokens the text encoder attends to
        with torch.no_grad():
            _, mask = pipe.get_text_hidden_states([text], max_sequence_length=512)
        return int(mask.sum()) - suffix

    assert kept_by_pipeline(LONG) == get_target("krea2").token_limit < len(pipe.tokenizer(LONG)["input_ids"])
    shaped = shape("a lighthouse on a cliff, no people", LONG, "krea2", tokenizer=pipe.tokenizer)
    assert shaped.shortened and shaped.tokens <= shaped.token_limit == 507
    assert kept_by_pipeline(shaped.prompt) == shaped.tokens  # nothing of it is cut by the pipeline
    assert LONG.startswith(shaped.prompt) and shaped.prompt.endswith(".")
    assert shaped.negative_prompt == "people" and shaped.prompt_2 is None


def test_the_negative_prompt_is_the_prompts_own_exclusions_and_only_where_the_model_takes_one(clip):
    prompt = "a street at night, no red cars, trucks or buses"
    expansion = "An empty street at night under sodium lamps; wet asphalt, shuttered shops."
    smol = "smollm2-135m"  # offline stand-in for the Qwen3 / T5 tokenizers
    got = {t: shape(prompt, expansion, t, tokenizer=None if t in ("sdxl", "generic") else smol) for t in TARGETS}
    for name in ("krea2", "sdxl", "sd3", "generic"):
        assert got[name].negative_prompt == "red cars, trucks, buses", name
    assert got["krea2-turbo"].negative_prompt is None and got["flux"].negative_prompt is None
    assert shape("a fox in snow", "A red fox.", "sdxl").negative_prompt == ""  # nothing invented
    given = shape(prompt, expansion, "sdxl", negative_prompt="blurry, buses")
    assert given.negative_prompt == "blurry, buses, red cars, trucks"
    assert shape(prompt, expansion, "krea2-turbo", negative_prompt="blurry", tokenizer=smol).negative_prompt is None
    assert shape("a windowless room, deserted", "A bare room.", "krea2", tokenizer=smol).negative_prompt == (
        "window, people"
    )
    # "no one" excludes people (the constraint's value), not the word "one".
    assert shape("a beach with no one on it", "A bare beach.", "krea2", tokenizer=smol).negative_prompt == "people"


def test_sdxl_and_sd3_get_a_short_clip_variant_within_77_tokens(clip, builtin_model_dir):
    sdxl = shape("a lighthouse", LONG, "sdxl")
    assert sdxl.tokens == clip.count(sdxl.prompt) <= 77 and sdxl.tokenizer == "clip"
    sd3 = shape("a lighthouse", LONG, "sd3", tokenizer=str(builtin_model_dir))
    assert sd3.token_limit == 256 and sd3.tokens <= 256 and sd3.tokenizer == str(builtin_model_dir)
    for s in (sdxl, sd3):
        assert s.prompt_2_tokens == clip.count(s.prompt_2) <= CLIP_TOKEN_LIMIT and LONG.startswith(s.prompt_2)
    assert len(sd3.prompt) > 2 * len(sd3.prompt_2)  # T5 reads the long text, CLIP the start of it
    for name in ("krea2", "krea2-turbo", "flux", "generic"):
        assert shape("a lighthouse", "A lighthouse.", name, tokenizer="clip").prompt_2 is None
    short = shape("a lighthouse", "A lighthouse at dusk.", "sdxl")
    assert short.prompt == short.prompt_2 == "A lighthouse at dusk." and not short.shortened


@pytest.mark.parametrize(
    "prompt, ratio",
    [
        ("a tall lighthouse on a cliff", "2:3"),
        ("a panorama of the Dolomites at dawn", "21:9"),
        ("a red fox in snow, 16:9", "16:9"),
        ("a vase of tulips, aspect ratio of 4:5", "4:5"),
        ("desktop wallpaper of a nebula, 2560x1440", "16:9"),
        ("a cat sleeping, vertical format", "9:16"),
        ("a phone wallpaper of a koi pond", "9:16"),
        ("an app icon of a paper plane", "1:1"),
        ("a portrait of an old fisherman", "4:5"),
        ("a fox in snow", None),
        ("a meeting at 10:30 in a small office", None),
        ("a 3/4 view of a bronze bust", None),
    ],
)
def test_the_size_is_read_from_the_prompt_or_none(prompt, ratio):
    got = suggest_size(prompt, target="sdxl")
    if ratio is None:
        assert got is None
        return
    w, h = (int(x) for x in ratio.split(":"))
    assert got.aspect_ratio == ratio and got.reason.lower() in prompt.lower()
    assert got.width % 16 == 0 and got.height % 16 == 0
    assert math.isclose(got.width / got.height, w / h, rel_tol=0.03)
    assert math.isclose(got.width * got.height, 1024 * 1024, rel_tol=0.06)


def test_a_size_must_be_a_multiple_of_16_and_a_given_one_wins():
    with pytest.raises(TargetError, match=r"width must be a multiple of 16, got 1000 \(use 992 or 1008\)"):
        check_size(1000, 1024)
    for bad in (0, -16, True, 512.0):
        with pytest.raises(TargetError, match="height"):
            check_size(512, bad)
    with pytest.raises(TargetError, match="both width and height"):
        shape("a fox", "A fox.", "sdxl", width=1024)
    given = shape("a tall lighthouse", "A lighthouse.", "sdxl", width=1024, height=768)
    assert (given.width, given.height, given.aspect_ratio, given.size_reason) == (1024, 768, "4:3", "given")


def test_the_cli_shapes_for_a_target_and_rejects_bad_input_in_one_line(capsys, monkeypatch):
    monkeypatch.setenv("EXPANDER_CACHE", "/nonexistent/never-used")  # raw + clip: no model is loaded
    prompt = "a tall lighthouse, no people"
    assert main(["expand", prompt, "--creativity", "raw", "--target", "sdxl", "--json", "--seed", "1"]) == 0
    shaped = json.loads(capsys.readouterr().out)["expansions"][0]["shaped"]
    assert shaped == shape(prompt, prompt, "sdxl").as_dict()
    assert (shaped["negative_prompt"], shaped["aspect_ratio"]) == ("people", "2:3")

    assert main(["expand", prompt, "--creativity", "raw", "--target", "sdxl"]) == 0
    out, err = capsys.readouterr()
    assert out == f"{prompt}\n" and f"sdxl: {shape(prompt, prompt, 'sdxl').tokens}/77 tokens" in err

    for args, message in (
        (["--target", "dalle"], "unknown target 'dalle'; choose one of: krea2, krea2-turbo, flux, sdxl, sd3, generic"),
        (["--target", "sdxl", "--width", "1000", "--height", "512"], "width must be a multiple of 16, got 1000"),
        (["--width", "512", "--height", "512"], "need --target"),
    ):
        assert main(["expand", prompt, "--creativity", "raw", *args]) == 2
        err = capsys.readouterr().err
        assert message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1, err
