"""The chapters as files: every book/*.md with code is paired with an output-free, in-sync book/*.ipynb,
every chapter is in the table of contents, and every install cell uses the repository URL of _config.yml."""
from pathlib import Path

import jupytext
import nbformat
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
BOOK = ROOT / "book"
CONFIG = yaml.safe_load((ROOT / "_config.yml").read_text())
CHAPTERS = sorted(p for p in BOOK.glob("*.md") if "```{code-cell}" in p.read_text())


def cells(notebook):
    return [(c.cell_type, c.source.strip(), sorted(c.metadata.get("tags", []))) for c in notebook.cells]


def test_there_are_chapters():
    assert CHAPTERS, "no book/*.md with code cells found"


@pytest.mark.parametrize("md", CHAPTERS, ids=lambda p: p.name)
def test_md_and_ipynb_are_paired_and_in_sync(md):
    ipynb = md.with_suffix(".ipynb")
    assert ipynb.exists(), f"{ipynb.name} missing: run `jupytext --sync {md.relative_to(ROOT)}`"
    assert cells(jupytext.read(md)) == cells(nbformat.read(ipynb, as_version=4)), (
        f"{md.name} and {ipynb.name} differ: edit the .md, then run `jupytext --sync {md.relative_to(ROOT)}`")


@pytest.mark.parametrize("md", CHAPTERS, ids=lambda p: p.name)
def test_ipynb_carries_no_outputs(md):
    notebook = nbformat.read(md.with_suffix(".ipynb"), as_version=4)
    for cell in notebook.cells:
        if cell.cell_type == "code":
            assert not cell.outputs and cell.execution_count is None, f"{md.stem}.ipynb holds outputs"


@pytest.mark.parametrize("md", CHAPTERS, ids=lambda p: p.name)
def test_first_code_cell_installs_aecourse_from_the_configured_repository(md):
    first = next(c for c in jupytext.read(md).cells if c.cell_type == "code")
    assert "remove-cell" in first.metadata.get("tags", []), "the install cell should be hidden in the HTML"
    assert 'find_spec("aecourse") is None' in first.source, "install only when aecourse is missing"
    assert f'"aecourse @ git+{CONFIG["repository"]["url"]}"' in first.source
    assert "--upgrade" not in first.source and "-U " not in first.source, "never upgrade Colab's packages"


def toc_files(node):
    if isinstance(node, dict):
        found = [node["file"]] if "file" in node else []
        return found + [f for value in node.values() for f in toc_files(value)]
    if isinstance(node, list):
        return [f for item in node for f in toc_files(item)]
    return []


def test_every_page_is_in_the_table_of_contents():
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    listed = {toc["root"], *toc_files(toc)}
    pages = {f"book/{p.stem}" for p in BOOK.glob("*.md")}
    assert pages == listed, f"pages not in _toc.yml: {pages - listed}; listed but missing: {listed - pages}"
