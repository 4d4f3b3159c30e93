"""The student edition: no solution survives, every exercise and stub does, and the notebooks still run."""
import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
CHAPTERS = sorted(p for p in (ROOT / "book").glob("*.md") if "```{code-cell}" in p.read_text())

spec = importlib.util.spec_from_file_location("student_edition", ROOT / "scripts" / "student_edition.py")
student_edition = importlib.util.module_from_spec(spec)
spec.loader.exec_module(student_edition)


def solution_lines(text: str) -> list[str]:
    """Substantial lines of every solution in a chapter's source (directive lines left out)."""
    blocks = student_edition.GATED_SOLUTION.findall(text) + [m.group(0) for m in
                                                               student_edition.SOLUTION_BLOCK.finditer(text)]
    lines = [line.strip() for block in blocks for line in block.splitlines()]
    # lines the student stubs share with the solutions (the signature, the check call) are meant to stay
    stubs = re.findall(r":tags: \[remove-cell, student-stub\]\n\n(.*?)\n```", text, re.DOTALL)
    shared = {line.strip() for stub in stubs for line in stub.splitlines()}
    # lines that also occur outside the solutions (a `def forward(...)` line of a model in the text) are not secrets
    outside = student_edition.SOLUTION_BLOCK.sub("", student_edition.GATED_SOLUTION.sub("", text))
    return [line for line in lines if len(line) > 25 and not line.startswith(("```", ":")) and line not in shared
            and line not in outside]


@pytest.fixture(scope="module")
def edition(tmp_path_factory):
    out = tmp_path_factory.mktemp("student")
    student_edition.make_student_edition(out)
    return out


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda p: p.stem)
def test_chapter_has_exercises_with_checked_stubs(chapter):
    text = chapter.read_text()
    labels = re.findall(r"^:label: (\S+)", text, re.MULTILINE)
    assert len(labels) >= 3, f"{chapter.name} has {len(labels)} exercises; every chapter needs at least 3"
    coding = re.findall(r"^````\{exercise-start\}\n:label: (\S+)", text, re.MULTILINE)
    assert coding, f"{chapter.name} needs at least one coding exercise (exercise-start/solution-start)"
    stubs = re.findall(r":tags: \[remove-cell, student-stub\]\n\n(.*?)\n```", text, re.DOTALL)
    for label in coding:
        stub = [s for s in stubs if label in s]
        assert stub, f"coding exercise {label} in {chapter.name} needs a student-stub cell naming it"
        assert "NotImplementedError" in stub[0] and "aecourse.check." in stub[0], \
            f"the stub of {label} must raise NotImplementedError and run an aecourse.check"


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda p: p.stem)
def test_no_solution_survives(edition, chapter):
    reference = chapter.read_text()
    student_md = (edition / chapter.name).read_text()
    notebook = nbformat.read(edition / f"{chapter.stem}.ipynb", as_version=4)
    student_nb = "\n".join(cell.source for cell in notebook.cells)
    for text in (student_md, student_nb):
        assert "{solution" not in text and "solution-start" not in text and "solution-end" not in text
        for line in solution_lines(reference):
            assert line not in text, f"solution text survived in the student {chapter.stem}: {line!r}"
        for label in re.findall(r"^:label: (\S+)", reference, re.MULTILINE):
            assert label in text, f"exercise {label} is missing from the student {chapter.stem}"
    stubs = [cell for cell in notebook.cells if "student-stub" in cell.metadata.get("tags", [])]
    assert len(stubs) == reference.count("student-stub")
    assert all("remove-cell" not in cell.metadata["tags"] for cell in stubs)
    assert all(not cell.get("outputs") for cell in notebook.cells if cell.cell_type == "code")


def test_student_notebooks_run_top_to_bottom(edition):
    """nbval executes every student notebook; the unsolved stubs report "not implemented yet" and do not fail."""
    env = {**os.environ, "AECOURSE_QUICK": "1"}
    notebooks = sorted(str(p) for p in edition.glob("*.ipynb"))
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "--nbval-lax", "--nbval-current-env",
                             "-p", "no:cacheprovider", "--rootdir", str(edition), *notebooks],
                            cwd=edition, env=env, capture_output=True, text=True, timeout=1200)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    for path in notebooks:
        assert Path(path).stem in result.stdout or "passed" in result.stdout
