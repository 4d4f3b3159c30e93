"""The published book: a strict full-mode build (warnings are errors), what it shows in a browser, and how it fails.

The build executes every chapter in **full mode** whatever the environment says, so every hidden claim check runs
(they are skipped in quick mode): this is the one full-mode execution of each chapter in a CI run. It builds into
the repository's ``_build`` like README's command, so the two share jupyter-cache's executed notebooks: a chapter
whose code did not change is not executed again.
"""
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
JUPYTER_BOOK = str(Path(sys.executable).with_name("jupyter-book"))
STRICT = ["-W", "-n", "--keep-going"]   # README's build command uses the same flags


def full_mode_env() -> dict[str, str]:
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    env.pop("AECOURSE_QUICK", None)
    return env


@pytest.fixture(scope="session")
def built_book():
    result = subprocess.run([JUPYTER_BOOK, "build", str(ROOT), *STRICT], capture_output=True, text=True,
                            env=full_mode_env())
    log = result.stdout + result.stderr
    assert result.returncode == 0, f"strict full-mode book build failed:\n{log[-8000:]}"
    return ROOT / "_build" / "html"


def build_one_page_book(root: Path, page: str, body: str) -> subprocess.CompletedProcess:
    """A book with the repository's _config.yml and one MyST notebook page, ``book/<page>.md``, built strictly."""
    shutil.copy(ROOT / "_config.yml", root / "_config.yml")
    (root / "references.bib").write_text("")
    (root / "_toc.yml").write_text(f"format: jb-book\nroot: book/{page}\n")
    (root / "book").mkdir()
    (root / "book" / f"{page}.md").write_text(
        "---\njupytext:\n  text_representation:\n    extension: .md\n    format_name: myst\n"
        "kernelspec:\n  display_name: Python 3\n  language: python\n  name: python3\n---\n\n" + body)
    return subprocess.run([JUPYTER_BOOK, "build", str(root), *STRICT], capture_output=True, text=True,
                          env=full_mode_env())


def test_a_broken_claim_fails_the_build_loudly(tmp_path):
    """A chapter whose claim check raises stops the build: non-zero exit, the chapter and the assertion named."""
    result = build_one_page_book(tmp_path, "claim", (
        "# A claim\n\n```{code-cell} ipython3\nweight_decay_error, baseline_error = 27.31, 27.25\n```\n\n"
        "```{code-cell} ipython3\n:tags: [remove-cell]\n\n"
        "assert weight_decay_error < baseline_error, 'weight decay should beat the baseline'\n```\n"))
    log = result.stdout + result.stderr
    assert result.returncode != 0, "a failing claim check must fail the build"
    assert "claim.md" in log and "weight decay should beat the baseline" in log, log[-3000:]
    assert "build succeeded" not in log


def test_markdown_tables_printed_by_code_render_as_tables(tmp_path):
    """Chapters show result tables with ``display(Markdown(...))``: they must become HTML tables, not pipe text."""
    result = build_one_page_book(tmp_path, "table", (
        "# A table\n\n```{code-cell} ipython3\nfrom IPython.display import Markdown, display\n"
        "display(Markdown('| model | error |\\n|---|---|\\n| plain | 27.31 |'))\n```\n"))
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
    page = (tmp_path / "_build" / "html" / "book" / "table.html").read_text()
    assert "<table" in page and re.search(r"<td>(<p>)?27.31(</p>)?</td>", page)
    assert "|---|" not in re.sub(r"<pre>.*?</pre>", "", page, flags=re.S)


def test_book_builds_without_warnings(built_book):
    assert (built_book / "index.html").exists()


def test_every_chapter_page_has_a_colab_link_to_its_committed_ipynb(built_book):
    for ipynb in sorted((ROOT / "book").glob("*.ipynb")):
        page = (built_book / "book" / f"{ipynb.stem}.html").read_text()
        links = set(re.findall(r'https://colab\.research\.google\.com/github/[^/]+/[^/]+/blob/[^/]+/([^"]+)', page))
        assert links == {f"book/{ipynb.name}"}, f"{ipynb.stem}.html Colab links: {links}"


def test_no_pipe_table_text_in_pages(built_book):
    """A result table that reached the page as a paragraph of pipes (the Markdown was not parsed as a table)."""
    for page in sorted((built_book / "book").glob("*.html")):
        shown = re.sub(r"<pre>.*?</pre>", "", page.read_text(), flags=re.S)   # code cells may hold pipes
        # Sphinx's smart quotes turn the pipe table's --- into dashes
        assert not re.search(r"\|\s*(-{3,}|[\u2013\u2014]+-?)\s*\|", shown), f"{page.name} shows a table as raw text"


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
        if "$" in (ROOT / "book" / f"{ipynb.stem}.md").read_text():   # the page has math: MathJax typeset it
            assert "mjx-container" in dom, f"{page.name}: no math was typeset (is MathJax served with the book?)"
            raw = re.findall(r'class="math[^"]*">\s*(\\\(|\\\[|\$)', dom)
            assert not raw, f"{page.name}: {len(raw)} formulas left as raw TeX"
        remote = re.findall(r'<script[^>]+src="(https?://[^"]+)"', dom)
        assert not remote, f"{page.name} loads scripts from the network, which an offline reader lacks: {remote}"
        links = set(re.findall(r'href="https://colab\.research\.google\.com/github/[^"]*?/blob/[^/"]+/([^"]+)"', dom))
        assert links == {f"book/{ipynb.name}"}, f"{page.name} Colab links in the browser: {links}"
        assert (ROOT / next(iter(links))).is_file()
        assert (shots / f"{ipynb.stem}.png").stat().st_size > 10_000, f"{page.name}: blank screenshot"


def test_the_comparison_tables_cross_page_read_offs_hold(built_book):
    """The GAN chapter pastes rows of other pages into its comparison table and reads one of them off against its
    GAN; each page asserts its own verdicts, and the cross-page ones are checked here, on the build's executed
    chapters (full mode)."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        from book_runtime import from_build_cache
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))
    glued = {chapter: values for chapter, (_, values) in from_build_cache().items()}
    gan, flow = glued["gans"], glued["flow_prior"]
    # "the autoencoder with a flow prior reached a lower Fréchet distance in its own run than this page's GAN", with a
    # margin of twice both standard deviations over the seeds
    assert flow["row_flow_fd"] + 2 * (flow["row_flow_fd_sd"] + gan["row_gan_fd_sd"]) < gan["row_gan_fd"]
    for page, key in (("conditional_vae", "cvae"), ("vq_vae", "vqvae"), ("flow_prior", "flow"),
                      ("adversarial_autoencoders", "aae")):
        row = glued[page]
        assert row[f"row_{key}_fd"] > 10 * row[f"row_{key}_floor"], f"{page}: its samples are far from the floor"
