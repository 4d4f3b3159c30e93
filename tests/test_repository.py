"""The repository keeps its promises: CI runs README's test command, and dependencies are never pinned exactly."""
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def readme_commands():
    return re.findall(r"```bash\n(.*?)\n```", (ROOT / "README.md").read_text(), re.S)


def test_readme_gives_exactly_two_commands_and_ci_runs_the_test_one():
    install, test = readme_commands()[:2]
    # the published build is strict, with the flags the book test builds with (tests/test_book.py STRICT)
    assert "pip install -r requirements.txt" in install and "jupyter-book build -W -n --keep-going ." in install
    assert "pytest" in test
    ci_lines = [line.strip() for line in (ROOT / ".ci" / "run").read_text().splitlines()]
    assert test.strip() in ci_lines, ".ci/run must run README's test command verbatim"
    assert any("pip install" in line and "requirements.txt" in line for line in ci_lines)


def test_requirements_use_lower_bounds_only_for_torch_and_numpy():
    for line in (ROOT / "requirements.txt").read_text().splitlines():
        name = re.split(r"[<>=!~ \[]", line.strip(), maxsplit=1)[0].lower()
        if name in {"torch", "torchvision", "numpy"}:
            assert "==" not in line and "<" not in line and "~=" not in line, line


def test_jupyter_book_stays_on_1x():
    assert re.search(r"^jupyter-book>=1\.0\.4,<2$", (ROOT / "requirements.txt").read_text(), re.M)


def test_installing_aecourse_changes_none_of_the_preinstalled_packages(tmp_path):
    """What Colab's install cell does, in an environment that already has torch, torchvision and numpy:
    pip must install aecourse and nothing else (no torch, torchvision or numpy up- or downgrade)."""
    import json
    import subprocess
    import sys
    report = tmp_path / "report.json"
    subprocess.run([sys.executable, "-m", "pip", "install", "--dry-run", "--no-build-isolation", "--quiet",
                    "--report", str(report), str(ROOT)], check=True, timeout=300)
    to_install = {item["metadata"]["name"].lower() for item in json.loads(report.read_text())["install"]}
    assert to_install == {"aecourse"}, f"pip would also install or replace {sorted(to_install - {'aecourse'})}"


def test_every_reference_is_cited_and_every_citation_has_a_reference():
    keys = set(re.findall(r"^@\w+\{([^,]+),", (ROOT / "references.bib").read_text(), re.M))
    cited = set()
    for page in (ROOT / "book").glob("*.md"):
        for group in re.findall(r"\{cite[^}]*\}`([^`]+)`", page.read_text()):
            cited |= {key.strip() for key in group.split(",")}
    assert keys - cited == set(), f"references.bib entries no page cites: {sorted(keys - cited)}"
    assert cited - keys == set(), f"cited but missing from references.bib: {sorted(cited - keys)}"
