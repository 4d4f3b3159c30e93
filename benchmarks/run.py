"""Every benchmark in one command: fit vs the tutorial pipeline, each chapter's runtime, the quality table.

    python benchmarks/run.py [--write-readme] [--quick] [--from-build] [--epochs 3] [--device cpu|cuda|mps]

Prints three Markdown tables. With ``--write-readme`` it also replaces the block between the
``<!-- benchmarks:start -->`` and ``<!-- benchmarks:end -->`` markers in README.md with them (written atomically).
``--quick`` runs the chapters at the test suite's reduced size: for checking the command, not for quoting.
``--from-build`` takes each chapter's seconds and glued values from the last full-mode ``jupyter-book build`` (its
jupyter-cache in ``_build/``) instead of executing the chapters again.
"""
from __future__ import annotations

import argparse
import datetime
import json
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


def write_readme(block: str, readme: Path = ROOT / "README.md") -> None:
    """Replace the text between the benchmark markers in ``readme`` with ``block``, atomically."""
    text = readme.read_text()
    if START not in text or END not in text or text.index(START) > text.index(END):
        raise ValueError(f"{readme} needs the markers {START} and {END}, in that order, around the tables")
    before, rest = text.split(START, 1)
    after = rest.split(END, 1)[1]
    write_atomically(readme, f"{before}{START}\n{block}\n{END}{after}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--write-readme", action="store_true")
    parser.add_argument("--quick", action="store_true", help="chapters at the reduced test size")
    parser.add_argument("--from-build", action="store_true", help="chapter figures from the last book build")
    parser.add_argument("--epochs", type=int, default=3, help="epochs per pipeline (median reported)")
    parser.add_argument("--device", default=None, help="for the pipeline comparison (chapters pick their own)")
    args = parser.parse_args()
    os.environ["AECOURSE_QUICK"] = "1" if args.quick else "0"

    pipeline_result = pipeline.compare(args.epochs, args.device)
    print(f"pipeline: fit {pipeline_result['fit_seconds']:.2f} s/epoch, tutorial "
          f"{pipeline_result['tutorial_seconds']:.2f} s/epoch, ratio {pipeline_result['ratio']:.2f}", flush=True)
    runtimes, glued = {}, {}
    cached = book_runtime.from_build_cache() if args.from_build else {}
    for name in book_runtime.chapters_in_toc():
        if args.from_build:
            if name not in cached:
                raise SystemExit(f"{name} is not in the build cache: build the book first")
            runtimes[name], glued[name] = cached[name]
        else:
            runtimes[name], _, glued[name] = book_runtime.run_chapter(name)
        print(f"{name}: {runtimes[name]:.0f} s", flush=True)
    block = tables(pipeline_result, runtimes, glued, "quick" if args.quick else "full")
    print(block)
    if args.write_readme:
        write_readme(block)


if __name__ == "__main__":
    main()
