"""A strict build of the whole book (warnings are errors), into a temporary folder.

The build executes every chapter, so it runs in whatever mode the environment sets (CI: AECOURSE_QUICK=1).
Building outside the repository keeps its execution cache apart from a full-mode `jupyter-book build .`.
"""
import os
import re
import shutil
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


def chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


@pytest.fixture(scope="session")
def browser():
    path = chromium()
    if path is None:
        if os.environ.get("CI"):
            pytest.fail("CI must have Debian's chromium for the browser test; .ci/run installs it")
        pytest.skip("no chromium here (apt-get install chromium); CI installs it")
    return path


def render(browser: str, page: Path, screenshot: Path) -> str:
    """Open ``page`` in headless Chromium, let its scripts run, save a screenshot; return the rendered DOM."""
    flags = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
             "--virtual-time-budget=10000", "--window-size=1280,2400", "--hide-scrollbars"]
    subprocess.run([*flags, f"--screenshot={screenshot}", page.as_uri()], capture_output=True, timeout=120,
                   check=True)
    return subprocess.run([*flags, "--dump-dom", page.as_uri()], capture_output=True, text=True, timeout=120,
                          check=True).stdout


def test_chapters_render_in_a_real_browser(built_book, browser):
    """Every chapter, opened in Chromium: its figures load, no traceback shows, its Colab link targets the
    committed notebook. Screenshots go to _build/screenshots/ for a human look."""
    shots = ROOT / "_build" / "screenshots"
    shots.mkdir(parents=True, exist_ok=True)
    for ipynb in sorted((ROOT / "book").glob("*.ipynb")):
        page = built_book / "book" / f"{ipynb.stem}.html"
        dom = render(browser, page, shots / f"{ipynb.stem}.png")
        assert "<h1" in dom, f"{page.name} rendered no heading"
        figures = [src for src in re.findall(r'<img[^>]+src="([^"]+)"', dom) if not src.startswith(("http", "data:"))]
        assert any("_images" in src for src in figures), f"{page.name} shows no figure"
        for src in figures:
            assert (page.parent / src).resolve().is_file(), f"{page.name}: image {src} does not exist"
        assert "Traceback (most recent call last)" not in dom and "NotImplementedError" not in dom, page.name
        links = set(re.findall(r'href="https://colab\.research\.google\.com/github/[^"]*?/blob/[^/"]+/([^"]+)"', dom))
        assert links == {f"book/{ipynb.name}"}, f"{page.name} Colab links in the browser: {links}"
        assert (ROOT / next(iter(links))).is_file()
        assert (shots / f"{ipynb.stem}.png").stat().st_size > 10_000, f"{page.name}: blank screenshot"
