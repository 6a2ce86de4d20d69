"""`expander make-tiny-krea2` and `expander render` through the real CLI entry point."""

from __future__ import annotations

import json

from PIL import Image

from expander.cli import main


def test_make_tiny_krea2_then_render_a_grid(tmp_path, capsys):
    model = tmp_path / "tiny"
    assert main(["make-tiny-krea2", str(model), "--seed", "3"]) == 0
    assert (model / "model_index.json").is_file()
    out = tmp_path / "out"
    code = main(
        [
            "render",
            "--model",
            str(model),
            "--prompt",
            "a red fox",
            "--prompt",
            "a blue door",
            "--seed",
            "1",
            "--seed",
            "2",
            "--out",
            str(out),
            "--height",
            "48",
            "--width",
            "64",
            "--steps",
            "2",
        ]
    )
    assert code == 0
    manifest = json.loads((out / "manifest.json").read_text())
    assert [(e["prompt"], e["seed"]) for e in manifest["images"]] == [
        ("a red fox", 1),
        ("a red fox", 2),
        ("a blue door", 1),
        ("a blue door", 2),
    ]
    assert manifest["settings"]["steps"] == 2 and manifest["settings"]["preset"] == "turbo"
    pixels = [Image.open(out / e["file"]) for e in manifest["images"]]
    assert all(im.size == (64, 48) for im in pixels)
    assert pixels[0].tobytes() != pixels[1].tobytes()  # seeds differ -> images differ


def test_render_reports_a_missing_model(tmp_path, capsys):
    code = main(["render", "--model", str(tmp_path / "nope"), "--prompt", "x", "--out", str(tmp_path / "o")])
    assert code == 2
    assert "does not exist" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_make_tiny_krea2_refuses_to_replace_other_data(tmp_path, capsys):
    (tmp_path / "precious.txt").write_text("keep me")
    assert main(["make-tiny-krea2", str(tmp_path)]) == 2
    assert (tmp_path / "precious.txt").read_text() == "keep me"


def test_render_takes_the_tiny_krea2_ref(tmp_path, tiny_krea2_dir):
    # `tiny:krea2` is the same cached model every loader uses (rewards, eval, this command): no second build.
    from expander.models import resolve_krea2_model
    from expander.rewards.tiny import resolve_ref

    assert resolve_krea2_model("tiny:krea2") == tiny_krea2_dir
    assert resolve_ref("tiny:krea2") == str(tiny_krea2_dir)
    out = tmp_path / "out"
    assert (
        main(
            [
                "render",
                "--model",
                "tiny:krea2",
                "--prompt",
                "x",
                "--seed",
                "0",
                "--height",
                "32",
                "--width",
                "32",
                "--steps",
                "2",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    manifest = json.loads((out / "manifest.json").read_text())
    assert Image.open(out / manifest["images"][0]["file"]).size == (32, 32)


def test_an_unknown_tiny_ref_is_a_named_error(tmp_path, capsys):
    assert main(["render", "--model", "tiny:krea3", "--prompt", "x", "--out", str(tmp_path / "o")]) == 2
    assert "unknown tiny Krea 2 ref 'tiny:krea3'" in capsys.readouterr().err
