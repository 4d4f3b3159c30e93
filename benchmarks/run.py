"""Every benchmark in one command: fit vs the tutorial pipeline, each chapter's runtime, the quality table.

    python benchmarks/run.py [--write-readme] [--quick] [--from-build] [--epochs 3] [--device cpu|cuda|mps]
                             [--save benchmarks/results/gpu.json]

Prints three Markdown tables. With ``--write-readme`` it also replaces the block between the
``<!-- benchmarks:start -->`` and ``<!-- benchmarks:end -->`` markers in README.md with them (written atomically).
``--quick`` runs the chapters at the test suite's reduced size: for checking the command, not for quoting.
``--from-build`` takes each chapter's seconds and glued values from the last full-mode ``jupyter-book build`` (its
jupyter-cache in ``_build/``) instead of executing the chapters again.

On a GPU machine, ``--save benchmarks/results/gpu.json`` keeps what was measured there (the pipeline, every chapter
with its kernel start and imports apart); back here, ``--write-readme`` renders that file as the GPU tables between
the ``<!-- gpu:start -->`` and ``<!-- gpu:end -->`` markers, beside the step-by-step gains that
``benchmarks/gpu_speedups.py`` saved and the reference runs saved as ``benchmarks/results/<name>_gpu.json``.
"""
from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import sys
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
import book_runtime  # noqa: E402
from aecourse.files import write_atomically  # noqa: E402
import pipeline  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
START, END = "<!-- benchmarks:start -->", "<!-- benchmarks:end -->"
GPU_START, GPU_END = "<!-- gpu:start -->", "<!-- gpu:end -->"
RESULTS = Path(__file__).resolve().parent / "results"


def quality_rows() -> list[dict]:
    """The rows of ``benchmarks/quality.yml``."""
    return yaml.safe_load((Path(__file__).parent / "quality.yml").read_text())


def reference_result(name: str) -> dict:
    """The result a reference run saved with ``--json benchmarks/results/<name>.json`` ({} if it never ran)."""
    path = Path(__file__).parent / "results" / f"{name}.json"
    return json.loads(path.read_text()) if path.is_file() else {}


class _Settings(dict):
    """A saved result's fields for a metric text, with its minutes; a field the run did not save shows as '?'."""

    def __init__(self, saved: dict) -> None:
        super().__init__(saved)
        if "seconds_total" in saved:
            self["minutes_total"] = f"{saved['seconds_total'] / 60:.1f}"
        if saved.get("seconds_to_target") is not None:
            self["minutes_to_target"] = f"{saved['seconds_to_target'] / 60:.1f}"

    def __missing__(self, key: str) -> str:
        return "?"


def tables(pipeline_result: dict, runtimes: dict[str, float], glued: dict[str, dict], mode: str) -> str:
    """The three Markdown tables, from measured results."""
    lines = [f"Measured {datetime.date.today().isoformat()} on {pipeline.machine()} ({mode} mode).", "",
             "| pipeline (MLP VAE 784-400-20, batch 128, full MNIST) | seconds per epoch |", "|---|---|",
             f"| `aecourse.fit` (data on the device) | {pipeline_result['fit_seconds']:.2f} |",
             f"| `DataLoader` + per-sample `ToTensor` | {pipeline_result['tutorial_seconds']:.2f} |",
             f"| ratio (target on the 2-core CPU: at most 0.5) | {pipeline_result['ratio']:.2f} |",
             "", f"| chapter, run top to bottom on {pipeline_result['device']} | seconds |", "|---|---|"]
    lines += [f"| `{name}` | {seconds:.0f} |" for name, seconds in runtimes.items()]
    lines += [f"| whole book | {sum(runtimes.values()):.0f} |", "",
              "| chapter or reference run | metric | ours | published anchor |", "|---|---|---|---|"]
    for row in quality_rows():
        if "reference" in row:   # a reference run's saved result (benchmarks/results/<name>.json)
            saved = reference_result(row["reference"])
            value, where = saved.get(row["key"]), f"`benchmarks/{row['reference']}.py`"
            missing = "not reached" if saved else "not run"
            # the metric text may name the run's settings: {epochs}, {shift_pixels}, {minutes_total}, {device}
            row = {**row, "metric": row["metric"].format_map(_Settings(saved))}
        else:
            value, where = glued.get(row["chapter"], {}).get(row["key"]), f"`{row['chapter']}`"
            missing = "not run"
        shown = missing if value is None else format(value, row["format"])
        lines.append(f"| {where} | {row['metric']} | {shown} | {row['anchor']} |")
    return "\n".join(lines)


def write_readme(block: str, readme: Path = ROOT / "README.md", markers: tuple[str, str] = (START, END)) -> None:
    """Replace the text between ``markers`` in ``readme`` with ``block``, atomically."""
    start, end = markers
    text = readme.read_text()
    if start not in text or end not in text or text.index(start) > text.index(end):
        raise ValueError(f"{readme} needs the markers {start} and {end}, in that order, around the tables")
    before, rest = text.split(start, 1)
    after = rest.split(end, 1)[1]
    write_atomically(readme, f"{before}{start}\n{block}\n{end}{after}")


# The reference runs the GPU table lists: (saved result's name, what its number is, key, format)
GPU_REFERENCES = [
    ("ae30_reference", "784-1000-500-250-30, {epochs} epochs: final test squared error per image", "final_error",
     ".2f"),
    ("anomaly_reference", "one-class AUROC, {epochs} epochs, seeds {seeds}: mean over the 10 digits", "ae_mean",
     ".1f"),
    ("vae_reference", "conv VAE ({architecture}), {epochs} epochs: test NLL in nats, k = {k}, {test_images} test "
     "images", "nll", ".2f"),
]


def gpu_tables(saved: dict, speedups: dict | None = None, references: dict[str, dict] | None = None,
               checks: dict | None = None) -> str:
    """The GPU tables, from what ``--save`` (and the speed-up and reference scripts) measured on a GPU machine."""
    pipe = saved["pipeline"]
    lines = [f"Measured {saved['date']} on {saved['machine']} ({saved['mode']} mode).", "",
             "| pipeline (MLP VAE 784-400-20, batch 128, full MNIST) | seconds per epoch |", "|---|---|",
             f"| `aecourse.fit` (data on the device) | {pipe['fit_seconds']:.3f} |",
             f"| `DataLoader` + per-sample `ToTensor` | {pipe['tutorial_seconds']:.3f} |",
             f"| speed-up of `fit` (target on the GPU: at least 20) | {1 / pipe['ratio']:.1f}× |"]
    if speedups:
        tutorial = speedups["rows"]["tutorial"]
        lines += ["", "| one step at a time (`benchmarks/gpu_speedups.py`, same model and GPU) | seconds per epoch "
                  "| speed-up over the tutorial |", "|---|---|---|"]
        for name, seconds in speedups["rows"].items():
            lines.append(f"| {speedups['labels'][name]} | {seconds:.3f} | {tutorial / seconds:.1f}× |")
        for note in speedups.get("notes", []):
            lines.append(f"| {note} | | |")
    chapters, failed = saved["chapters"], saved.get("failed", {})
    lines += ["", f"| chapter, run top to bottom in a fresh kernel on {saved['device']} (target: at most 15) | seconds "
              "| of which kernel start | of which imports (install check, `import aecourse`) |", "|---|---|---|---|"]
    for name in book_runtime.chapters_in_toc():
        if name in chapters:
            run = chapters[name]
            lines.append(f"| `{name}` | {run['seconds']:.1f} | {run['kernel_seconds']:.1f} | "
                         f"{run['imports_seconds']:.1f} |")
        else:
            lines.append(f"| `{name}` | {'failed: ' + failed[name] if name in failed else 'not run'} | | |")
    if all(name in chapters for name in book_runtime.chapters_in_toc()):
        lines.append(f"| whole book (target: at most 120) | {sum(run['seconds'] for run in chapters.values()):.0f} "
                     f"| {sum(run['kernel_seconds'] for run in chapters.values()):.0f} | "
                     f"{sum(run['imports_seconds'] for run in chapters.values()):.0f} |")
    else:
        lines.append("| whole book (target: at most 120) | not measured: not every chapter ran | | |")
    for note in saved.get("notes", []):
        lines.append(f"| {note} | | | |")
    if checks:
        lines += ["", "| seeded reruns on the GPU (`benchmarks/cuda_checks.py`, one epoch on 10,000 images) | "
                  "final loss, GPU | rerun | CPU | largest weight difference between the GPU runs |",
                  "|---|---|---|---|---|"]
        for name, row in checks.items():
            lines.append(f"| `{name}` | {row['gpu_loss']:.4f} | {row['gpu_rerun_loss']:.4f} | {row['cpu_loss']:.4f} "
                         f"({row['gpu_cpu_loss_gap_percent']:.3f} % apart) | {row['rerun_weight_gap']:.1e} |")
    found = [(name, text, key, spec) for name, text, key, spec in GPU_REFERENCES if (references or {}).get(name)]
    if found:
        lines += ["", "| reference run on the GPU | result | minutes |", "|---|---|---|"]
        for name, text, key, spec in found:
            result = references[name]
            value = result.get(key)
            shown = "not reached" if value is None else format(value, spec)
            lines.append(f"| `benchmarks/{name}.py`: {text.format_map(_Settings(result))} | {shown} | "
                         f"{run_minutes(result):.1f} |")
    return "\n".join(lines)


def run_minutes(result: dict) -> float:
    """A reference run's minutes, whichever way its script saved them (NaN if it did not)."""
    if "seconds_total" in result:
        return result["seconds_total"] / 60
    if "minutes_total" in result:
        return result["minutes_total"]
    return result.get("minutes_train", math.nan) + result.get("minutes_eval", 0.0)


def saved_gpu_results(results: Path = RESULTS) -> tuple[dict, dict | None, dict[str, dict], dict | None] | None:
    """(gpu.json, gpu_speedups.json, {reference: <reference>_gpu.json}, cuda_checks.json) if a GPU run was saved
    (a file that is missing gives None), else None."""
    if not (results / "gpu.json").is_file():
        return None

    def read(name: str) -> dict | None:
        return json.loads((results / name).read_text()) if (results / name).is_file() else None
    references = {name: read(f"{name}_gpu.json") for name, *_ in GPU_REFERENCES if read(f"{name}_gpu.json")}
    return read("gpu.json"), read("gpu_speedups.json"), references, read("cuda_checks.json")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--write-readme", action="store_true")
    parser.add_argument("--quick", action="store_true", help="chapters at the reduced test size")
    parser.add_argument("--from-build", action="store_true", help="chapter figures from the last book build")
    parser.add_argument("--epochs", type=int, default=3, help="epochs per pipeline (median reported)")
    parser.add_argument("--device", default=None, help="for the pipeline comparison (chapters pick their own)")
    parser.add_argument("--save", type=Path, default=None,
                        help="also save what was measured as JSON (on a GPU machine: benchmarks/results/gpu.json)")
    args = parser.parse_args()
    os.environ["AECOURSE_QUICK"] = "1" if args.quick else "0"
    if args.save is not None and args.from_build:
        parser.error("--save keeps chapters executed by this command; it cannot be combined with --from-build")

    pipeline_result = pipeline.compare(args.epochs, args.device)
    print(f"pipeline: fit {pipeline_result['fit_seconds']:.3f} s/epoch, tutorial "
          f"{pipeline_result['tutorial_seconds']:.3f} s/epoch, ratio {pipeline_result['ratio']:.3f}", flush=True)
    runtimes, glued, runs, failed = {}, {}, {}, {}
    cached = book_runtime.from_build_cache() if args.from_build else {}
    for name in book_runtime.chapters_in_toc():
        if args.from_build:
            if name not in cached:
                raise SystemExit(f"{name} is not in the build cache: build the book first")
            runtimes[name], glued[name] = cached[name]
        else:
            try:
                run = book_runtime.run_chapter(name)
            except Exception as error:   # e.g. a claim check that fails here: say so, and go on with the rest
                failed[name] = book_runtime.failure(error)
                print(f"{name}: FAILED: {failed[name]}", flush=True)
                continue
            runtimes[name], glued[name] = run.seconds, run.glued
            runs[name] = {"seconds": run.seconds, "kernel_seconds": run.kernel_seconds,
                          "imports_seconds": run.imports_seconds}
        print(f"{name}: {runtimes[name]:.1f} s", flush=True)
        if args.save is not None:   # after every chapter: a run cut short still leaves what it measured
            saved = {"date": datetime.date.today().isoformat(), "machine": pipeline.machine(),
                     "device": pipeline_result["device"], "mode": "quick" if args.quick else "full",
                     "pipeline": pipeline_result, "chapters": runs, "failed": failed}
            write_atomically(args.save, json.dumps(saved, indent=1))
    block = tables(pipeline_result, runtimes, glued, "quick" if args.quick else "full")
    print(block)
    if failed:
        print("failed: " + "; ".join(f"{name}: {why}" for name, why in failed.items()))
    if args.write_readme and failed:
        raise SystemExit("README not written: a chapter failed")
    if args.write_readme:
        write_readme(block)
        gpu = saved_gpu_results()
        if gpu is not None:
            write_readme(gpu_tables(*gpu), markers=(GPU_START, GPU_END))


if __name__ == "__main__":
    main()
