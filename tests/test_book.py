"""A strict build of the whole book (warnings are errors), into a temporary folder.

The build executes every chapter, so it runs in whatever mode the environment sets (CI: AECOURSE_QUICK=1).
Building outside the repository keeps its execution cache apart from a full-mode `jupyter-book build .`.
"""
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def built_book(tmp_path_factory):
    out = tmp_path_factory.mktemp("book")
    jb = Path(sys.executable).with_name("jupyter-book")
    result = subprocess.run([str(jb), "build", str(ROOT), "-W", "-n", "--keep-going", "--path-output", str(out)],
                            capture_output=True, text=True, env={**os.environ, "PYTHONWARNINGS": "ignore"})
    log = result.stdout + result.stderr
    assert result.returncode == 0, f"strict book build failed:\n{log[-6000:]}"
    return out / "_build" / "html"


def test_book_builds_without_warnings(built_book):
    assert (built_book / "index.html").exists()


def test_every_chapter_page_has_a_colab_link_to_its_committed_ipynb(built_book):
    for ipynb in sorted((ROOT / "book").glob("*.ipynb")):
        page = (built_book / "book" / f"{ipynb.stem}.html").read_text()
        links = set(re.findall(r'https://colab\.research\.google\.com/github/[^/]+/[^/]+/blob/[^/]+/([^"]+)', page))
        assert links == {f"book/{ipynb.name}"}, f"{ipynb.stem}.html Colab links: {links}"


def test_no_error_output_in_pages(built_book):
    for page in (built_book / "book").glob("*.html"):
        text = page.read_text()
        assert "Traceback (most recent call last)" not in text and "output error" not in text, page.name
