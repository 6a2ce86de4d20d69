"""Pure scorer cores on hand-made tensors, embeddings and groups."""

from __future__ import annotations

import pytest
import torch
from safetensors.torch import save_file

from expander.errors import ConfigError
from expander.rewards.aesthetics import AestheticScorer, load_aesthetic_head
from expander.rewards.clip_model import ClipModel, resize_center_crop
from expander.rewards.config import ClipConfig, SafetyConfig
from expander.rewards.diversity import Dinov3Embedder, group_diversity
from expander.rewards.errors import RewardModelError
from expander.rewards.faithfulness import ClipSimilarity, combine_faithfulness
from expander.rewards.render_cache import derive_seed
from expander.rewards.safety import ImageSafety, combine_safety, text_safety
from expander.rewards.tiny import TINY_CLIP_EMBED_DIM, UnknownTinyModelError, resolve_ref


@pytest.fixture(scope="module")
def clip() -> ClipModel:
    return ClipModel.from_config(ClipConfig(model="tiny:clip", pretrained=None), "cpu")


@pytest.fixture(scope="module")
def images() -> torch.Tensor:
    g = torch.Generator().manual_seed(0)
    return torch.rand(4, 3, 48, 64, generator=g)


# -- aesthetic head -------------------------------------------------------------------------------------


def test_linear_head_layout_computes_w_dot_x_plus_b(tmp_path):
    # LAION's sa_0_4_vit_l_14_linear.pth layout: a single Linear with `weight` and `bias`.
    w = torch.zeros(1, 4)
    w[0, 2] = 3.0
    torch.save({"weight": w, "bias": torch.tensor([0.5])}, tmp_path / "head.pth")
    head = load_aesthetic_head(tmp_path / "head.pth")
    x = torch.tensor([[0.0, 0.0, 1.0, 0.0], [0.0, 0.0, -2.0, 9.0]])
    assert head(x).flatten().tolist() == pytest.approx([3.5, -5.5])


def test_mlp_head_layout_keeps_layer_indices_and_is_linear(tmp_path):
    # improved-aesthetic-predictor layout: Linear layers at 0, 2, 4, 6, 7 with Dropout between, no activation.
    torch.manual_seed(1)
    dims = [(0, 8, 6), (2, 6, 5), (4, 5, 4), (6, 4, 3), (7, 3, 1)]
    state = {}
    for i, a, b in dims:
        state[f"layers.{i}.weight"] = torch.randn(b, a)
        state[f"layers.{i}.bias"] = torch.randn(b)
    save_file(state, str(tmp_path / "head.safetensors"))
    head = load_aesthetic_head(tmp_path / "head.safetensors")
    x = torch.randn(5, 8)
    expected = x
    for i, _, _ in dims:
        expected = expected @ state[f"layers.{i}.weight"].T + state[f"layers.{i}.bias"]
    assert torch.allclose(head(x), expected, atol=1e-5)


def test_bad_head_files_name_the_problem(tmp_path):
    with pytest.raises(RewardModelError, match="not found"):
        load_aesthetic_head(tmp_path / "missing.pth")
    torch.save({"fc.weight": torch.zeros(1, 4)}, tmp_path / "odd.pth")
    with pytest.raises(RewardModelError, match="unexpected key 'fc.weight'"):
        load_aesthetic_head(tmp_path / "odd.pth")


def test_aesthetic_scorer_checks_embedding_width(clip, tmp_path):
    torch.save({"weight": torch.zeros(1, 768), "bias": torch.zeros(1)}, tmp_path / "l14.pth")
    with pytest.raises(RewardModelError, match="768-d embeddings"):
        AestheticScorer(clip, load_aesthetic_head(tmp_path / "l14.pth"))


def test_aesthetic_scores_are_per_image_and_batch_independent(clip, images):
    scorer = AestheticScorer(clip, load_aesthetic_head("tiny:aesthetic-head"))
    scores = scorer.score(images)
    assert scores.shape == (4,)
    assert torch.allclose(scorer.score(images.flip(0)), scores.flip(0), atol=1e-5)
    assert torch.allclose(scorer.score(images[2:3]), scores[2:3], atol=1e-5)
    assert scores.unique().numel() == 4  # different images, different scores


# -- CLIP similarity / faithfulness ---------------------------------------------------------------------


def test_clip_similarity_is_a_cosine_of_the_right_pairs(clip, images):
    sim = ClipSimilarity(clip)
    texts = ["a red fox", "a lighthouse", "a red fox", "a bowl of soup"]
    s = sim.score(images, texts)
    assert s.shape == (4,) and bool(((s >= -1) & (s <= 1)).all())
    # The same image against the same text scores the same whatever the rest of the batch is.
    again = sim.score(images[[2, 0]], ["a red fox", "a red fox"])
    assert again.tolist() == pytest.approx([s[2].item(), s[0].item()], abs=1e-5)
    with pytest.raises(ValueError, match="4 images but 3 texts"):
        sim.score(images, texts[:3])


def test_combine_faithfulness():
    assert combine_faithfulness(0.3, 0.5, 2.0, 1.0) == pytest.approx(1.1)
    assert combine_faithfulness(None, 0.5, 1.0, 1.0) is None
    assert combine_faithfulness(None, 0.5, 0.0, 1.0) == pytest.approx(0.5)  # a zero-weight signal may be missing


def test_resize_center_crop_keeps_the_centre():
    img = torch.zeros(1, 3, 32, 64)
    img[..., :, 16:48] = 1.0  # a bright centre square of the wide image
    out = resize_center_crop(img, (32, 32))
    assert out.shape == (1, 3, 32, 32)
    assert out.mean() > 0.95


# -- diversity ------------------------------------------------------------------------------------------


def test_group_diversity_on_hand_made_groups():
    e = [
        torch.tensor([1.0, 0.0]),
        torch.tensor([1.0, 0.0]),  # group a: identical -> 0
        torch.tensor([1.0, 0.0]),
        torch.tensor([0.0, 1.0]),
        torch.tensor([-1.0, 0.0]),  # group b
        torch.tensor([0.3, 0.4]),  # group c: alone -> None
        None,
        torch.tensor([2.0, 0.0]),
    ]  # group d: one missing -> None, None
    ids = ["a", "a", "b", "b", "b", "c", "d", "d"]
    d = group_diversity(e, ids)
    assert d[0] == pytest.approx(0.0, abs=1e-6) and d[1] == pytest.approx(0.0, abs=1e-6)
    # b: distances x-y = 1, x-(-x) = 2, y-(-x) = 1
    assert d[2:5] == pytest.approx([1.5, 1.0, 1.5])
    assert d[5] is None and d[6] is None and d[7] is None


def test_group_diversity_is_scale_invariant_and_checks_lengths():
    a = group_diversity(torch.tensor([[1.0, 2.0], [3.0, -1.0]]), [0, 0])
    b = group_diversity(torch.tensor([[10.0, 20.0], [0.3, -0.1]]), [0, 0])
    assert a == pytest.approx(b)
    with pytest.raises(ValueError, match="2 embeddings but 3 group ids"):
        group_diversity(torch.zeros(2, 2), [0, 0, 1])


def test_dinov3_embedder_tiny(images):
    dino = Dinov3Embedder.from_pretrained("tiny:dinov3", device="cpu")
    emb = dino.embed(images)
    assert emb.shape == (4, 32)
    assert torch.allclose(dino.embed(images[1:2]), emb[1:2], atol=1e-5)
    d = group_diversity(torch.cat([emb[:1], emb[:1], emb[1:2]]), [0, 0, 0])
    assert d[0] < d[2]  # two identical images are closer to each other than to a third


# -- seeds ----------------------------------------------------------------------------------------------


def test_seeds_are_common_within_a_group_and_change_with_step():
    s = derive_seed("a fox", 3)
    assert s == derive_seed("a fox", 3)
    assert 0 <= s < 2**31
    assert s != derive_seed("a fox", 4)
    assert s != derive_seed("a cat", 3)
    assert s != derive_seed("a fox", 3, seed_base=1)


# -- safety ---------------------------------------------------------------------------------------------


def test_image_safety_thresholds(clip, images):
    never = ImageSafety(clip, SafetyConfig(threshold=1.01))
    always = ImageSafety(clip, SafetyConfig(threshold=-1.01))
    assert never.flags(images) == [[] for _ in range(4)]
    assert all(set(f) == set(SafetyConfig().concepts) for f in always.flags(images))
    # A per-category threshold between the observed similarities splits the batch.
    sims = always.similarities(clip.encode_images(images))[:, 0]
    cut = sims.median().item()
    one = ImageSafety(clip, SafetyConfig(threshold=1.01, thresholds={"sexual": cut}))
    flagged = [bool(f) for f in one.flags(images)]
    assert flagged == (sims > cut).tolist() and any(flagged) and not all(flagged)


def test_image_safety_rejects_unknown_categories(clip):
    with pytest.raises(ConfigError, match="unknown categories \\['violence'\\]"):
        ImageSafety(clip, SafetyConfig(concepts={"violence": ["blood"]}))


def test_safety_layers_gate_additions_not_requests():
    assert text_safety("a knight", "a knight in armour on a hill at dawn") == []
    assert any(
        "adds categories" in r for r in text_safety("a knight", "a knight covered in blood and gore, a severed head")
    )
    # The image layer: a category the user asked for is excused, an added one is not, a hard one never.
    asked = "a gory zombie battle with blood and severed limbs"
    assert combine_safety(asked, asked, ["violence_gore"], image_layer=True).ok
    assert not combine_safety("a zombie", "a zombie", ["violence_gore"], image_layer=True).ok
    assert not combine_safety("a portrait", "a portrait", None, image_layer=True).ok  # unchecked image fails closed
    assert combine_safety("a portrait", "a portrait", None, image_layer=False).ok


# -- tiny refs and real refs offline --------------------------------------------------------------------


def test_tiny_refs_are_cached_and_unknown_ones_rejected():
    first = resolve_ref("tiny:aesthetic-head")
    assert resolve_ref("tiny:aesthetic-head") == first
    with pytest.raises(UnknownTinyModelError, match="unknown tiny model 'tiny:nope'"):
        resolve_ref("tiny:nope")
    assert resolve_ref("facebook/dinov3-vitb16-pretrain-lvd1689m") == "facebook/dinov3-vitb16-pretrain-lvd1689m"
    assert load_aesthetic_head(first)(torch.zeros(2, TINY_CLIP_EMBED_DIM)).shape == (2, 1)


def test_real_refs_fail_fast_with_a_clear_error_offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(RewardModelError, match="cannot load CLIP model 'ViT-L-14'"):
        ClipModel.from_config(ClipConfig(model="ViT-L-14", pretrained="openai"), "cpu")
    with pytest.raises(RewardModelError, match="cannot load DINOv3 model 'facebook/dinov3-vitb16-pretrain-lvd1689m'"):
        Dinov3Embedder.from_pretrained("facebook/dinov3-vitb16-pretrain-lvd1689m", device="cpu")


@pytest.fixture(scope="module")
def tiny_nsfw_classifier(tmp_path_factory) -> str:
    from transformers import ViTConfig, ViTForImageClassification, ViTImageProcessor

    path = tmp_path_factory.mktemp("nsfw")
    torch.manual_seed(0)
    config = ViTConfig(
        hidden_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=64,
        image_size=32,
        patch_size=16,
        num_labels=2,
        id2label={0: "normal", 1: "nsfw"},
        label2id={"normal": 0, "nsfw": 1},
    )
    ViTForImageClassification(config).save_pretrained(path)
    ViTImageProcessor(size={"height": 32, "width": 32}).save_pretrained(path)
    return str(path)


def test_image_classifier_layer(tiny_nsfw_classifier, images):
    from expander.rewards.safety import ImageClassifierSafety

    def layer(**kw):
        return ImageClassifierSafety.from_config(SafetyConfig(image_classifier=tiny_nsfw_classifier, **kw), "cpu")

    probs = layer().probabilities(images)
    assert probs.shape == (4, 2) and torch.allclose(probs.sum(1), torch.ones(4), atol=1e-5)
    assert layer(image_classifier_threshold=0.0).flags(images) == [["sexual"]] * 4
    assert layer(image_classifier_threshold=1.01).flags(images) == [[]] * 4
    cut = probs[:, 1].median().item()
    split = layer(image_classifier_threshold=cut).flags(images)
    assert [bool(f) for f in split] == (probs[:, 1] >= cut).tolist()
    with pytest.raises(ConfigError, match="names \\['porn'\\], not labels"):
        layer(image_classifier_labels={"porn": "sexual"})
    with pytest.raises(ConfigError, match="unknown categories \\['nsfw'\\]"):
        layer(image_classifier_labels={"nsfw": "nsfw"})
