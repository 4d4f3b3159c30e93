"""Make the student edition: every chapter with its solutions removed and its exercise stubs in place.

    python scripts/student_edition.py [--out student]

For each chapter (``book/*.md`` with code cells) it writes ``<out>/<chapter>.ipynb`` (for Jupyter and Colab) and ``<out>/<chapter>.md``:

- ``{solution}`` blocks and everything between ``{solution-start}`` and ``{solution-end}`` (text *and* code cells)
  are removed;
- code cells tagged ``student-stub`` (hidden in the reference book) become visible: the function to write, raising
  ``NotImplementedError``, and the ``aecourse.check`` call that reports "not implemented yet" until it is written,
  so the notebook still runs top to bottom.

The reference book is untouched. For an HTML student book, build with sphinx-exercise's ``hide_solutions: true``.
"""
from __future__ import annotations

import argparse
import re
from pathlib import Path

import jupytext

from aecourse.files import write_atomically

ROOT = Path(__file__).resolve().parents[1]

GATED_SOLUTION = re.compile(r"^````\{solution-start\}.*?^````\{solution-end\}\n````\n?", re.MULTILINE | re.DOTALL)
SOLUTION_BLOCK = re.compile(r"^(`{3,})\{solution\}.*?^\1\n?", re.MULTILINE | re.DOTALL)
STUB_TAGS = re.compile(r"^:tags: \[remove-cell, student-stub\]$", re.MULTILINE)


def student_text(text: str) -> str:
    """A chapter's MyST source with the solutions removed and the exercise stubs shown."""
    text = GATED_SOLUTION.sub("", text)
    text = SOLUTION_BLOCK.sub("", text)
    text = STUB_TAGS.sub(":tags: [student-stub]", text)
    return re.sub(r"\n{3,}", "\n\n", text)


def check_out(out: Path) -> Path:
    """Refuse an output folder that would overwrite the reference book (or is not a folder)."""
    if not isinstance(out, (str, Path)):
        raise TypeError(f"out must be a folder path, got {type(out).__name__}")
    out = Path(out).resolve()
    if out.exists() and not out.is_dir():
        raise ValueError(f"--out {out} is a file; expected a folder to write the student notebooks into")
    protected = {ROOT, ROOT / "book", ROOT / "aecourse", ROOT / "tests", ROOT / "scripts", ROOT / "figures"}
    if out in protected or (out.exists() and any(out.samefile(p) for p in protected if p.exists())):
        raise ValueError(f"--out {out} would overwrite the reference course; pick a new folder such as "
                         f"{ROOT / 'student'}")
    return out


def make_student_edition(out: Path, chapters: list[Path] | None = None) -> list[Path]:
    """Write the student notebooks for ``chapters`` (default: every chapter) into ``out``; return them."""
    out = check_out(out)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    if chapters is None:   # every chapter that is a notebook (has code cells)
        chapters = [path for path in sorted((ROOT / "book").glob("*.md")) if "```{code-cell}" in path.read_text()]
    for source in chapters:
        text = student_text(source.read_text())
        notebook = jupytext.reads(text, fmt="md:myst")
        notebook.metadata.pop("jupytext", None)   # a plain notebook, not paired with the reference source
        write_atomically(out / source.name, text)
        write_atomically(out / f"{source.stem}.ipynb", jupytext.writes(notebook, fmt="ipynb"))
        written.append(out / f"{source.stem}.ipynb")
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=ROOT / "student", help="folder to write (default: student/)")
    args = parser.parse_args()
    try:
        out = check_out(args.out)
    except ValueError as error:
        parser.error(str(error))
    for path in make_student_edition(out):
        print(path)


if __name__ == "__main__":
    main()
