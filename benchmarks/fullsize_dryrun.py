"""Full-size dry run: the real GPU recipes end to end at their real sizes with random weights (issue 16).

    python benchmarks/fullsize_dryrun.py --size full --parts grpo   --out benchmarks/results  # one GPU, < 10 min a part
    python benchmarks/fullsize_dryrun.py --size full --parts eval   --out benchmarks/results
    python benchmarks/fullsize_dryrun.py --size full --parts serve  --out benchmarks/results
    python benchmarks/fullsize_dryrun.py --size full --parts render --compile --out benchmarks/results
    python benchmarks/fullsize_dryrun.py --size tiny --out /tmp/dryrun  # every part on CPU, tiny random models
    python benchmarks/fullsize_dryrun.py --dry-plan                     # full-size models on `meta`: params, bf16 GiB

Every model is the real class at its real size (`benchmarks/fullsize_configs.py`: Qwen3-1.7B/4B, Krea 2 with its
Qwen3-VL-4B-sized text encoder and Qwen-Image VAE, open_clip ViT-L-14 with no pretrained tag plus a LAION-format
head, DINOv3 ViT-B/16), saved once with random weights under `--models-dir`; `--size tiny` uses the test suite's
tiny random builders (`tiny:krea2`, `tiny:clip`, `tiny:dinov3`, `tiny:aesthetic-head`, the built-in SmolLM2).
The project's own code paths then run unchanged:

- `grpo`: k steps of `configs/grpo/krea2_turbo.yaml` (tiny: `configs/grpo/tiny_cpu.yaml`, 1 step, G=2, 64x64)
  through `expander.train.grpo.main`. Per phase (generation, rendering, scoring, backward, other = the rest of
  `_prepare_inputs`): the trainer's own `timing/*_s` metrics and the peak memory of the phase (nested phases
  excluded; CUDA: `max_memory_allocated` reset per phase; CPU: the process's peak RSS, `VmHWM` reset through
  `/proc/self/clear_refs`). Per component: parameter bytes (policy, its optimizer state, Krea 2 parts, reward
  models), renders per step, headroom left on the card.
- `eval`: `configs/eval/krea2_turbo_parti.yaml` on 8 prompts x 2 arms x 2 seeds at 1024x1024 (tiny: 2 prompts,
  64x64, `configs/eval/tiny_cpu.yaml`) through `expander.eval.run.run_eval`: images/s, peak memory, the share of
  time in expansion, rendering and scoring.
- `serve`: `benchmarks/serve_load.py`'s server start and the load generator of `expander.serve.loadgen`, on a
  Qwen3-1.7B-sized random model on vLLM (tiny: the built-in model on the transformers backend): tokens/s,
  p50/p95 at 64 concurrent clients, API/engine throughput ratio.
- `render`: the Krea 2 transformer's achieved FLOP/s (linear + attention FLOPs counted at the real token counts
  by `diffusion.flops.FlopCounter`) and its share of the card's dense bf16 peak, eager and with `--compile`, at
  512x512 and 1024x1024 (tiny: 32 and 64 on CPU, FLOP/s only).

Each part writes `<out>/<part>_<device>.json` (device: the card's name, e.g. `h100_80gb_hbm3`, or `cpu`).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import functools
import json
import os
import platform
import re
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

PARTS = ("grpo", "eval", "serve", "render")
GIB = 2**30
PROMPT = (
    "A red fox stands alert in deep fresh snow at the edge of a birch forest, its thick winter coat glowing "
    "orange against pale blue shadows, soft overcast light, shallow depth of field, wildlife photography."
)


# ---------------------------------------------------------------------------------------------- device and memory


def device_info() -> dict:
    import torch

    if torch.cuda.is_available():
        name = torch.cuda.get_device_name(0)
        total = torch.cuda.get_device_properties(0).total_memory
        return {"device": name, "slug": _slug(name), "cuda": True, "total_memory_gib": round(total / GIB, 2)}
    return {
        "device": f"cpu ({platform.processor() or platform.machine()}, {os.cpu_count()} cores)",
        "slug": "cpu",
        "cuda": False,
        "total_memory_gib": None,
    }


def _slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", name.lower().replace("nvidia", "")).strip("_")


def _sync():
    import torch

    if torch.cuda.is_available():
        torch.cuda.synchronize()


class PhaseMemory:
    """Peak memory per named phase; a phase nested in another is excluded from its parent's peak.

    CUDA: `torch.cuda.max_memory_allocated`, reset at every phase boundary. CPU: the process's resident-set
    high-water mark (`VmHWM`), reset by writing 5 to `/proc/self/clear_refs` (Linux); where that is refused, the
    lifetime peak (`ru_maxrss`), which cannot be reset (`kind` says which).
    """

    def __init__(self):
        import torch

        self.cuda = torch.cuda.is_available()
        self.kind = "cuda_max_memory_allocated" if self.cuda else self._cpu_kind()
        self.peaks: dict[str, int] = {}
        self.min_free: int | None = None
        self._stack: list[str] = []

    @staticmethod
    def _cpu_kind() -> str:
        try:
            Path("/proc/self/clear_refs").write_text("5")
            return "cpu_peak_rss_vmhwm_reset_per_phase"
        except OSError:
            return "cpu_peak_rss_lifetime_ru_maxrss"

    def reset(self) -> None:
        if self.cuda:
            import torch

            torch.cuda.reset_peak_memory_stats()
        elif self.kind.endswith("reset_per_phase"):
            Path("/proc/self/clear_refs").write_text("5")

    def peak(self) -> int:
        if self.cuda:
            import torch

            free, _ = torch.cuda.mem_get_info()
            self.min_free = free if self.min_free is None else min(self.min_free, free)
            return torch.cuda.max_memory_allocated()
        if self.kind.endswith("reset_per_phase"):
            for line in Path("/proc/self/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024

    def _note(self, name: str) -> None:
        self.peaks[name] = max(self.peaks.get(name, 0), self.peak())

    @contextlib.contextmanager
    def phase(self, name: str):
        if self._stack:
            self._note(self._stack[-1])
        self.reset()
        self._stack.append(name)
        try:
            yield
        finally:
            self._stack.pop()
            self._note(name)
            self.reset()

    def to_dict(self) -> dict:
        return {name: round(b / GIB, 3) for name, b in self.peaks.items()}


def module_bytes(module) -> int:
    return sum(p.numel() * p.element_size() for p in module.parameters()) if module is not None else 0


def _gib(n: int | float | None):
    return None if n is None else round(n / GIB, 3)


# ---------------------------------------------------------------------------------------------- models


def model_refs(args) -> dict[str, str]:
    """Refs of every model of the part, for `--size tiny` the suite's tiny builders, else full-size random dirs."""
    if args.size == "tiny":
        return {
            "policy": "smollm2-135m",
            "served": "smollm2-135m",
            "krea2": "tiny:krea2",
            "clip": "tiny:clip",
            "aesthetic_head": "tiny:aesthetic-head",
            "dinov3": "tiny:dinov3",
        }
    import gc

    import fullsize_configs
    import torch

    refs = fullsize_configs.full_refs(Path(args.models_dir), device="cuda", served=args.served_model)
    # A fresh machine builds (and saves) every model here, whichever part runs: hand the CUDA cache back before the
    # part measures its own peak or starts a vLLM server beside this process.
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
    return refs


# ---------------------------------------------------------------------------------------------- grpo


def _probed_trainer(probe: PhaseMemory, init: dict):
    from expander.train.grpo.trainer import ExpanderGRPOTrainer

    class ProbedGRPOTrainer(ExpanderGRPOTrainer):
        """The project's trainer, each phase's peak memory recorded around the methods it already times."""

        def __init__(self, *a, **kw):
            import torch

            before = torch.cuda.memory_allocated() if probe.cuda else 0
            super().__init__(*a, **kw)
            init["trainer_init_allocated_bytes"] = (torch.cuda.memory_allocated() - before) if probe.cuda else None
            cache = self.render_cache
            if cache is not None:
                render = cache._render

                @functools.wraps(render)
                def probed_render(keys):
                    with probe.phase("rendering"):
                        return render(keys)

                cache._render = probed_render

        def _generate(self, prompts):
            with probe.phase("generation"):
                return super()._generate(prompts)

        def _calculate_rewards(self, *a, **kw):
            with probe.phase("scoring"):
                return super()._calculate_rewards(*a, **kw)

        def _prepare_inputs(self, *a, **kw):
            with probe.phase("other"):
                return super()._prepare_inputs(*a, **kw)

        def training_step(self, *a, **kw):
            with probe.phase("backward"):
                return super().training_step(*a, **kw)

    return ProbedGRPOTrainer


def grpo_argv(args, refs: dict, out: Path) -> list[str]:
    common = [
        "--output_dir",
        str(out),
        "--max_steps",
        str(args.steps),
        "--save_steps",
        str(10**6),
        "--image_grid_steps",
        "0",
        "--report_to",
        "none",
        "--logging_steps",
        "1",
    ]
    if args.size == "tiny":
        return [
            "--config",
            str(REPO / "configs/grpo/tiny_cpu.yaml"),
            *common,
            "--num_generations",
            "2",
            "--per_device_train_batch_size",
            "4",
            "--max_completion_length",
            "8",
            "--max_prompts",
            "2",
            "--rewards.render.height",
            "64",
            "--rewards.render.width",
            "64",
            "--rewards.render.num_inference_steps",
            "1",
            "--torch_threads",
            "2",  # the tiny recipe's 1 suits a vLLM-colocated CPU run; this dry run has no vLLM
        ]
    return [
        "--config",
        str(REPO / "configs/grpo/krea2_turbo.yaml"),
        *common,
        "--model_name_or_path",
        refs["policy"],
        "--sft_adapter",
        "none",
        "--dataset_name",
        "",
        "--prompt_files",
        str(REPO / "configs/grpo/tiny_prompts.txt"),
        "--rewards.render.model",
        refs["krea2"],
        "--rewards.aesthetic.head",
        refs["aesthetic_head"],
        "--rewards.aesthetic.clip.pretrained",
        "null",
        "--rewards.faithfulness.clip.pretrained",
        "null",
        "--rewards.safety.clip.pretrained",
        "null",
        "--rewards.diversity.model",
        refs["dinov3"],
    ]


def run_grpo(args, dev: dict) -> dict:
    import torch

    import expander.train.grpo.run as grpo_run
    from expander.train.grpo import make_parser

    refs = model_refs(args)
    probe = PhaseMemory()
    init: dict = {}
    out = Path(tempfile.mkdtemp(prefix="dryrun_grpo_"))
    argv = grpo_argv(args, refs, out)
    original = grpo_run.ExpanderGRPOTrainer
    grpo_run.ExpanderGRPOTrainer = _probed_trainer(probe, init)
    start = time.perf_counter()
    try:
        trainer = grpo_run.main(*make_parser().parse_args_and_config(argv))
        rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    finally:
        grpo_run.ExpanderGRPOTrainer = original
    wall = time.perf_counter() - start
    steps = [r for r in rows if "timing/step_s" in r]
    timing = {
        k: [round(r[f"timing/{k}_s"], 3) for r in steps]
        for k in ("generation", "rendering", "scoring", "backward", "other", "step")
    }
    suite = trainer.reward_suite
    renderer = getattr(getattr(suite, "cache", None), "renderer", None)
    pipe = getattr(renderer, "pipe", None)
    optim_bytes = sum(
        t.numel() * t.element_size()
        for st in trainer.optimizer.state.values()
        for t in st.values()
        if torch.is_tensor(t)
    )
    reward_models, reward_bytes = {}, {}
    seen: set[int] = set()
    for name, mod in (
        ("clip", getattr(getattr(suite, "aesthetic", None), "clip", None)),
        ("clip_faithfulness", getattr(getattr(suite, "similarity", None), "clip", None)),
        ("clip_safety", getattr(getattr(suite, "image_safety", None), "clip", None)),
        ("aesthetic_head", getattr(getattr(suite, "aesthetic", None), "head", None)),
        ("dinov3", getattr(getattr(suite, "dino", None), "model", None)),
    ):
        mod = getattr(mod, "model", mod) if name.startswith("clip") else mod
        if mod is not None and id(mod) not in seen:
            seen.add(id(mod))
            reward_bytes[name] = module_bytes(mod)
            reward_models[name] = _gib(reward_bytes[name])
    components = {
        "policy_params_gib": _gib(module_bytes(trainer.model)),
        "policy_trainable_params": sum(p.numel() for p in trainer.model.parameters() if p.requires_grad),
        "optimizer_state_gib": _gib(optim_bytes),
        "optimizer_state_bytes": optim_bytes,  # LoRA's Adam state rounds to 0.000 GiB at tiny size
        "krea2_gib": {k: _gib(module_bytes(getattr(pipe, k, None))) for k in ("transformer", "text_encoder", "vae")},
        "reward_models_gib": reward_models,
        "reward_models_bytes": reward_bytes,  # the tiny models round to 0.000 GiB
        # vLLM colocate is created inside GRPOTrainer.__init__: what that allocated (weights + KV cache + TRL's
        # LoRA bookkeeping) on the card; None on CPU (no vLLM in the tiny recipe).
        "trainer_init_allocated_gib": _gib(init.get("trainer_init_allocated_bytes")),
        "vllm_gpu_memory_utilization": trainer.args.vllm_gpu_memory_utilization if trainer.args.use_vllm else None,
    }
    peak = max(probe.peaks.values()) if probe.peaks else 0
    total = torch.cuda.get_device_properties(0).total_memory if dev["cuda"] else None
    renders = [r.get("renders/total") for r in steps]
    result = {
        "part": "grpo",
        "size": args.size,
        **dev,
        "recipe": argv[1],
        "argv": argv,
        "steps": len(steps),
        "wall_s": round(wall, 2),
        "timing_s": timing,
        "memory_kind": probe.kind,
        "peak_memory_gib": probe.to_dict(),
        "components": components,
        "renders_per_step": renders,
        "completions_per_step": trainer.args.per_device_train_batch_size,
        "headroom_gib": _gib(total - peak) if total else None,
        "min_free_gib_seen": _gib(probe.min_free),
        "note": (
            "random weights; policy tokenizer: SmolLM2's stand-in (Qwen3 vocabulary kept in the model)"
            if args.size == "full"
            else "tiny random models on CPU: plumbing and ratios, not GPU figures"
        ),
    }
    shutil.rmtree(out, ignore_errors=True)
    del trainer
    return result


# ---------------------------------------------------------------------------------------------- eval


def run_eval_part(args, dev: dict) -> dict:
    import expander.eval.expansions as eval_expansions
    import expander.eval.rendering as eval_rendering
    import expander.eval.run as eval_run
    from expander.eval.config import ArmConfig, load_eval_config

    refs = model_refs(args)
    out = Path(tempfile.mkdtemp(prefix="dryrun_eval_"))
    common = [
        "--output_dir",
        str(out),
        "--cache_dir",
        str(out / "cache"),
        "--bootstrap_samples",
        "100",
        "--seeds_per_prompt",
        "2",
    ]
    if args.size == "tiny":
        cfg = load_eval_config(
            REPO / "configs/eval/tiny_cpu.yaml",
            [*common, "--num_prompts", "2", "--height", "64", "--width", "64", "--num_inference_steps", "1"],
        )
        arm = ArmConfig(name="smollm2-low", model=refs["policy"], creativity="low", backend="transformers", max_words=8)
    else:
        cfg = load_eval_config(
            REPO / "configs/eval/krea2_turbo_parti.yaml",
            [
                *common,
                "--num_prompts",
                "8",
                "--renderer",
                refs["krea2"],
                "--aesthetic_head",
                refs["aesthetic_head"],
                "--clip_pretrained",
                "null",
                "--dino_model",
                refs["dinov3"],
            ],
        )
        arm = ArmConfig(name="qwen3-1.7b-random", model=refs["served"], creativity="medium", backend="vllm")
    cfg = dataclasses.replace(cfg, arms=[cfg.arms[0], arm])
    probe = PhaseMemory()
    seconds: dict[str, float] = {"expansion": 0.0, "rendering": 0.0, "scoring": 0.0}

    def timed(phase, fn):
        @functools.wraps(fn)
        def wrapper(*a, **kw):
            start = time.perf_counter()
            try:
                with probe.phase(phase):
                    return fn(*a, **kw)
            finally:
                _sync()
                seconds[phase] += time.perf_counter() - start

        return wrapper

    patched = [
        (eval_expansions, "expand_arm", "expansion"),
        (eval_rendering, "render_missing", "rendering"),
        (eval_run, "score_rows", "scoring"),
    ]
    originals = [getattr(mod, name) for mod, name, _ in patched]
    for mod, name, phase in patched:
        setattr(mod, name, timed(phase, getattr(mod, name)))
    start = time.perf_counter()
    try:
        with probe.phase("eval"):
            result = eval_run.run_eval(cfg, progress=False, write_report=False)
    finally:
        for (mod, name, _), fn in zip(patched, originals):
            setattr(mod, name, fn)
    wall = time.perf_counter() - start
    counted = sum(seconds.values())
    out_dict = {
        "part": "eval",
        "size": args.size,
        **dev,
        "config": "configs/eval/krea2_turbo_parti.yaml" if args.size == "full" else "configs/eval/tiny_cpu.yaml",
        "prompts": cfg.num_prompts,
        "arms": [a.name for a in cfg.arms],
        "seeds_per_prompt": cfg.seeds_per_prompt,
        "height": cfg.height,
        "width": cfg.width,
        "rendered": result.rendered,
        "expanded": result.expanded,
        "wall_s": round(wall, 2),
        "seconds": {k: round(v, 3) for k, v in seconds.items()},
        "share": {k: round(v / wall, 3) for k, v in seconds.items()},
        "other_share": round(1 - counted / wall, 3),
        "images_per_s_rendering": round(result.rendered / seconds["rendering"], 3) if seconds["rendering"] else None,
        "images_per_s_end_to_end": round(result.rendered / wall, 3),
        "memory_kind": probe.kind,
        "peak_memory_gib": probe.to_dict(),
    }
    shutil.rmtree(out, ignore_errors=True)
    return out_dict


# ---------------------------------------------------------------------------------------------- serve


def run_serve(args, dev: dict) -> dict:
    import serve_load

    from expander.serve.loadgen import run_http_load

    refs = model_refs(args)
    if args.size == "tiny":
        backend, clients, per_client, max_words, model = "transformers", 2, 1, 8, refs["served"]
        extra = []
    else:
        backend, clients, per_client, max_words, model = "vllm", 64, 4, 40, refs["served"]
        extra = ["--model", model, "--default_adapter", "none"]
    log_dir = Path(tempfile.mkdtemp(prefix="dryrun_serve_"))
    start = time.perf_counter()
    proc, url = serve_load.start_server(backend, log_dir / f"{backend}.log", extra)
    startup = time.perf_counter() - start
    try:
        http = asyncio.run(
            run_http_load(url, clients=clients, requests_per_client=per_client, max_words=max_words)
        ).to_dict()
    finally:
        serve_load.stop_server(proc)
    from expander.serve.config import ServeConfig

    cfg = (
        ServeConfig(backend=backend)
        if args.size == "tiny"
        else ServeConfig(backend=backend, model=model, default_adapter="none")
    )
    engine = asyncio.run(
        serve_load.engine_load(cfg, clients=clients, requests_per_client=per_client, max_words=max_words)
    )
    shutil.rmtree(log_dir, ignore_errors=True)
    return {
        "part": "serve",
        "size": args.size,
        **dev,
        "backend": backend,
        "model": "qwen3-1.7b random weights" if args.size == "full" else "smollm2-135m (built-in)",
        "clients": clients,
        "requests_per_client": per_client,
        "max_words": max_words,
        "server_start_s": round(startup, 1),
        "http": http,
        "engine": engine,
        "tok_per_s": http["tok_per_s"],
        "p50_s": http["p50_s"],
        "p95_s": http["p95_s"],
        "api_over_engine": round(http["req_per_s"] / engine["req_per_s"], 3) if engine["req_per_s"] else None,
        "errors": http["errors"] + engine["errors"],
    }


# ---------------------------------------------------------------------------------------------- render efficiency


def run_render(args, dev: dict) -> dict:
    import torch

    from diffusion import Krea2Renderer
    from diffusion.flops import FlopCounter, bf16_peak_tflops

    if args.size == "tiny":
        from expander.models import resolve_krea2_model

        renderer = Krea2Renderer.from_pretrained(resolve_krea2_model("tiny:krea2"), device="cpu", batch_size=1)
        sizes, steps = (32, 64), 2
    else:
        import fullsize_configs

        pipe = fullsize_configs.build_krea2("cuda")
        renderer = Krea2Renderer(
            pipe,
            ref="random-weights-full-size",
            preset="turbo",
            device=torch.device("cuda"),
            dtype=torch.bfloat16,
            batch_size=1,
        )
        sizes, steps = (512, 1024), 8
    transformer = renderer.pipe.transformer
    state = {"seconds": 0.0, "calls": 0, "counter": None, "tokens": None}
    forward = transformer.forward

    @functools.wraps(forward)
    def measured_forward(*a, **kw):
        hidden, text = kw.get("hidden_states", a[0] if a else None), kw.get("encoder_hidden_states")
        if hidden is not None and text is not None:
            state["tokens"] = {"batch": hidden.shape[0], "image": hidden.shape[1], "text": text.shape[1]}
        _sync()
        t0 = time.perf_counter()
        if state["counter"] is not None:
            with state["counter"]:
                out = forward(*a, **kw)
        else:
            out = forward(*a, **kw)
        _sync()
        state["seconds"] += time.perf_counter() - t0
        state["calls"] += 1
        return out

    transformer.forward = measured_forward
    peak = bf16_peak_tflops(dev["device"]) if dev["cuda"] else None
    seed = 0

    def render(size, count=False, repeats=1):
        nonlocal seed
        state.update(seconds=0.0, calls=0, counter=FlopCounter() if count else None)
        _sync()
        t0 = time.perf_counter()
        for _ in range(repeats):
            renderer.render([PROMPT], [seed], height=size, width=size, num_inference_steps=steps, output_type="pt")
            seed += 1
        _sync()
        return (time.perf_counter() - t0) / repeats, state["seconds"] / repeats, state["counter"]

    rows = []
    modes = ["eager", "compile"] if args.compile else ["eager"]
    flops_per_render = {}
    for mode in modes:
        if mode == "compile":
            transformer.compile_repeated_blocks(fullgraph=True)
        for size in sizes:
            if size not in flops_per_render:  # count in eager (same FLOPs compiled)
                _, _, counter = render(size, count=True)
                flops_per_render[size] = {
                    "total": counter.total,
                    **counter.by_kind,
                    "forwards": state["calls"],
                    "tokens_per_forward": state["tokens"],
                }
            render(size)  # warm-up (compiles with --compile)
            wall, tf_s, _ = render(size, repeats=args.repeats)
            flops = flops_per_render[size]["total"]
            achieved = flops / tf_s / 1e12
            rows.append(
                {
                    "mode": mode,
                    "size": size,
                    "steps": steps,
                    "seconds_per_image": round(wall, 4),
                    "transformer_seconds_per_image": round(tf_s, 4),
                    "transformer_share_of_render": round(tf_s / wall, 3),
                    "transformer_flop_per_image": flops,
                    "achieved_flop_per_s": round(flops / tf_s),
                    "achieved_tflops": round(achieved, 3),
                    "share_of_bf16_peak": round(achieved / peak, 3) if peak else None,
                }
            )
            print(
                f"render {mode:<7} {size}x{size}: {wall:.3f} s/image, transformer {tf_s:.3f} s "
                f"({flops / 1e9:,.3f} GFLOP) = {achieved * 1e3:,.3f} GFLOP/s"
                + (f" = {100 * achieved / peak:.1f}% of {peak:.0f} bf16 peak" if peak else " (peak unknown: CPU)"),
                flush=True,
            )
    return {
        "part": "render",
        "size": args.size,
        **dev,
        "bf16_dense_peak_tflops": peak,
        "flops_per_render": {str(k): v for k, v in flops_per_render.items()},
        "rows": rows,
        "text_tokens_note": "FLOPs counted at the prompt's real token count (the renderer trims padding)",
    }


# ---------------------------------------------------------------------------------------------- main


def dry_plan(args) -> dict:
    import fullsize_configs

    plan = fullsize_configs.meta_plan(served=args.served_model)
    total = sum(v["params"] for v in plan.values())
    print(f"{'component':<24} {'parameters':>16} {'bf16 GiB':>9}")
    for name, v in plan.items():
        print(f"{name:<24} {v['params']:>16,} {v['bf16_gib']:>9.2f}")
    print(f"{'total':<24} {total:>16,} {2 * total / GIB:>9.2f}")
    return {"part": "plan", "device": "meta", "components": plan, "total_params": total}


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__
    )
    p.add_argument("--parts", default=",".join(PARTS), help=f"comma list of {', '.join(PARTS)}")
    p.add_argument("--size", choices=("full", "tiny"), default="full")
    p.add_argument("--out", default=None, help="write <part>_<device>.json here")
    p.add_argument("--compile", action="store_true", help="render: also time the torch.compile'd transformer")
    p.add_argument("--steps", type=int, default=None, help="GRPO steps (default 3; tiny 1)")
    p.add_argument("--repeats", type=int, default=None, help="render: timed renders per size (default 3; tiny 1)")
    p.add_argument("--served-model", default="qwen3-1.7b", choices=("qwen3-1.7b", "qwen3-4b"))
    p.add_argument(
        "--models-dir",
        default=str(REPO / ".cache" / "expander" / "fullsize"),
        help="where the full-size random models are saved once and reused",
    )
    p.add_argument("--dry-plan", action="store_true", help="build full-size models on `meta`; print params and bytes")
    args = p.parse_args(argv)
    args.steps = args.steps or (1 if args.size == "tiny" else 3)
    args.repeats = args.repeats or (1 if args.size == "tiny" else 3)
    unknown = set(args.parts.split(",")) - set(PARTS)
    if unknown:
        p.error(f"unknown parts {sorted(unknown)}; known: {', '.join(PARTS)}")
    return args


def main(argv=None) -> dict[str, dict]:
    args = parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    out = Path(args.out) if args.out else None
    if out:
        out.mkdir(parents=True, exist_ok=True)
    if args.dry_plan:
        plan = dry_plan(args)
        if out:
            (out / "plan_meta.json").write_text(json.dumps(plan, indent=2) + "\n")
        return {"plan": plan}
    import torch

    dev = device_info()
    if args.size == "full" and not dev["cuda"]:
        print("skipped: --size full needs a CUDA GPU (use --size tiny, or --dry-plan for the meta-device plan)")
        return {}
    runners = {"grpo": run_grpo, "eval": run_eval_part, "serve": run_serve, "render": run_render}
    results = {}
    for part in args.parts.split(","):
        if dev["cuda"]:
            torch.cuda.empty_cache()
        start = time.perf_counter()
        results[part] = runners[part](args, dev)
        results[part]["part_wall_s"] = round(time.perf_counter() - start, 2)
        print(f"{part}: " + json.dumps(_headline(results[part])), flush=True)
        if out:
            (out / f"{part}_{dev['slug']}.json").write_text(json.dumps(results[part], indent=2) + "\n")
    return results


def _headline(r: dict) -> dict:
    keys = {
        "grpo": ("part_wall_s", "timing_s", "peak_memory_gib", "renders_per_step", "headroom_gib"),
        "eval": ("part_wall_s", "rendered", "images_per_s_rendering", "share", "peak_memory_gib"),
        "serve": ("part_wall_s", "tok_per_s", "p50_s", "p95_s", "api_over_engine", "errors"),
        "render": ("part_wall_s", "rows"),
    }[r["part"]]
    return {k: r.get(k) for k in keys}


if __name__ == "__main__":
    main()
