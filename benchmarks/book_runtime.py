"""Full-mode runtime of every chapter, and of the whole book, executed top to bottom as a learner would.

    python benchmarks/book_runtime.py [chapter ...] [--quick] [--slowest 3]

Each chapter's ``.md`` source is executed in a fresh kernel (the same code the committed ``.ipynb`` holds);
nothing is written to the repository. Prints seconds per chapter, the slowest cells of each, and the total.
``--quick`` sets ``AECOURSE_QUICK=1`` (the reduced budget the test suite uses).
"""
from __future__ import annotations

import argparse
import ast
import os
import platform
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import jupytext
import torch
import yaml
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]


def chapters_in_toc() -> list[str]:
    """Names of the executable chapters (``book/<name>.md`` with code cells) in the order of ``_toc.yml``."""
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    files = [toc["root"]]
    for part in toc.get("parts", []):
        for chapter in part.get("chapters", []):   # a chapter's sections (its sub-pages) follow it
            files += [chapter["file"], *(section["file"] for section in chapter.get("sections", []))]
    return [Path(file).name for file in files
            if (ROOT / f"{file}.md").exists() and "```{code-cell}" in (ROOT / f"{file}.md").read_text()]


def glued_values(notebook) -> dict[str, object]:
    """The values an executed notebook glued with myst-nb's ``glue``, by name (plain-text form parsed back)."""
    values = {}
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            record = output.get("metadata", {}).get("scrapbook")
            if record:
                text = output["data"].get(record["mime_prefix"] + "text/plain", "")
                try:
                    values[record["name"]] = ast.literal_eval(text)
                except (ValueError, SyntaxError):
                    values[record["name"]] = text
    return values


def from_build_cache(cache_path: Path = ROOT / "_build" / ".jupyter_cache") -> dict[str, tuple[float, dict]]:
    """What the last ``jupyter-book build`` executed: {chapter: (execution seconds, glued values)}, read from
    jupyter-cache, so a fresh full-mode build need not be executed a second time to fill README's tables."""
    from jupyter_cache import get_cache
    if not cache_path.is_dir():
        raise FileNotFoundError(f"no build cache at {cache_path}: run README's jupyter-book build first")
    cache = get_cache(str(cache_path))
    found = {}
    for record in cache.list_cache_records():
        name = Path(record.uri).stem
        found[name] = (float(record.data.get("execution_seconds", float("nan"))),
                       glued_values(cache.get_cache_bundle(record.pk).nb))
    return found


@dataclass
class ChapterRun:
    """One chapter executed top to bottom in a fresh kernel."""

    seconds: float                        # everything: kernel start, imports, every cell
    kernel_seconds: float                 # starting the kernel until it answers
    imports_seconds: float                # the cells up to `import aecourse`: the install check, imports
    cells: list[tuple[float, str]]        # (seconds, first line) per code cell
    glued: dict[str, object]


def failure(error: Exception) -> str:
    """One line that says why a chapter failed: for a failing cell (nbclient's ``CellExecutionError``), the error's
    name and the cell's first line."""
    if hasattr(error, "ename"):
        text = str(error)
        source = text.split("------------------")[1].strip().splitlines() if text.count("------------------") > 1 \
            else []
        first = source[0][:60] if source else "?"
        return f"{error.ename} in the cell that starts `{first}`" + (f": {error.evalue[:80]}" if error.evalue else "")
    return f"{type(error).__name__}: {str(error)[:100]}"


def run_chapter(name: str, timeout: int = 900) -> ChapterRun:
    """Execute ``book/<name>.md`` in a fresh kernel and time it (the kernel's start is part of ``seconds``)."""
    notebook = jupytext.read(ROOT / "book" / f"{name}.md")
    client = NotebookClient(notebook, timeout=timeout, kernel_name="python3",
                            resources={"metadata": {"path": str(ROOT / "book")}})
    cell_times: list[tuple[float, str]] = []
    start = time.perf_counter()
    with client.setup_kernel():
        kernel_seconds = time.perf_counter() - start
        for index, cell in enumerate(notebook.cells):
            if cell.cell_type != "code":
                continue
            cell_start = time.perf_counter()
            client.execute_cell(cell, index)
            first_line = next((line for line in cell.source.splitlines() if line.strip()), "")
            cell_times.append((time.perf_counter() - cell_start, first_line[:70]))
    code = [cell.source for cell in notebook.cells if cell.cell_type == "code"]
    setup = next((i + 1 for i, source in enumerate(code) if "import aecourse" in source), 0)
    return ChapterRun(time.perf_counter() - start, kernel_seconds, sum(s for s, _ in cell_times[:setup]),
                      cell_times, glued_values(notebook))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("chapters", nargs="*", help="default: every chapter in _toc.yml")
    parser.add_argument("--quick", action="store_true", help="run with AECOURSE_QUICK=1")
    parser.add_argument("--slowest", type=int, default=3, help="cells to list per chapter")
    parser.add_argument("--timeout", type=int, default=900, help="seconds allowed per cell")
    args = parser.parse_args()
    os.environ["AECOURSE_QUICK"] = "1" if args.quick else "0"
    names = args.chapters or chapters_in_toc()
    unknown = [name for name in names if not (ROOT / "book" / f"{name}.md").exists()]
    if unknown:
        sys.exit(f"no such chapter(s): {', '.join(unknown)}; expected names of book/*.md files")

    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no CUDA GPU"
    print(f"machine: {platform.machine()}, {os.cpu_count()} CPU threads, {gpu}, torch {torch.__version__}, "
          f"{'quick' if args.quick else 'full'} mode")
    total = 0.0
    rows = []
    for name in names:
        run = run_chapter(name, args.timeout)
        total += run.seconds
        rows.append((name, run))
        slowest = sorted(run.cells, reverse=True)[: args.slowest]
        print(f"{name}: {run.seconds:.1f} s (kernel start {run.kernel_seconds:.1f} s, imports "
              f"{run.imports_seconds:.1f} s); slowest cells: "
              + "; ".join(f"{s:.1f} s `{line}`" for s, line in slowest), flush=True)
    print("\n| chapter | seconds | kernel start | imports |\n|---|---|---|---|")
    for name, run in rows:
        print(f"| `{name}` | {run.seconds:.0f} | {run.kernel_seconds:.1f} | {run.imports_seconds:.1f} |")
    print(f"| whole book | {total:.0f} | | |")


if __name__ == "__main__":
    main()
