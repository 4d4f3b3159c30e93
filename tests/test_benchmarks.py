"""The benchmark scripts run, compare like with like, and keep README's tables and quality rows honest."""
import importlib.util
import json
import re
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import aecourse

ROOT = Path(__file__).resolve().parents[1]


def load(name: str):
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        spec = importlib.util.spec_from_file_location(name, ROOT / "benchmarks" / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module   # dataclasses look their module up there
        spec.loader.exec_module(module)
        return module
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))


pipeline = load("pipeline")
book_runtime = load("book_runtime")
run = load("run")


def test_tutorial_dataset_yields_the_same_pixels_as_load_mnist():
    import numpy as np
    with np.load(aecourse.data.MNIST_PATH) as archive:
        dataset = pipeline.TutorialMNIST(archive["train_images"][:5])
    images, _ = aecourse.load_mnist("train")
    for i in range(5):
        sample, _ = dataset[i]
        assert sample.shape == (1, 28, 28) and sample.dtype == torch.float32
        assert torch.equal(sample, images[i])


def test_pipeline_comparison_runs_and_both_sides_learn():
    result = pipeline.compare(epochs=1, device="cpu", n_images=1024)
    assert result["fit_seconds"] > 0 and result["tutorial_seconds"] > 0
    assert result["ratio"] == pytest.approx(result["fit_seconds"] / result["tutorial_seconds"])
    untrained = pipeline.VAE()
    baseline = aecourse.metrics.evaluate(untrained, pipeline.vae_loss, aecourse.load_mnist("train")[0][:10_000])
    assert result["fit_loss"] < baseline["loss"] and result["tutorial_loss"] < baseline["loss"]


def glue_patterns(source: str) -> list[re.Pattern]:
    """Each glue call's name as a regex: an f-string's {...} parts match any text."""
    names = re.findall(r"glue\(\s*f?[\"']([^\"']+)[\"']", source)
    return [re.compile(re.sub(r"\\\{[^}]*\\\}", ".+", re.escape(name))) for name in names]


def test_every_quality_row_is_glued_by_its_chapter():
    chapters = book_runtime.chapters_in_toc()
    for row in run.quality_rows():
        if "reference" in row:   # a reference run: its script exists and its saved result has the key
            assert (ROOT / "benchmarks" / f"{row['reference']}.py").is_file()
            assert row["key"] in run.reference_result(row["reference"]), \
                f"benchmarks/results/{row['reference']}.json lacks {row['key']!r}: run the reference script with --json"
            continue
        assert row["chapter"] in chapters, f"quality.yml names {row['chapter']!r}, which is not in _toc.yml"
        source = (ROOT / "book" / f"{row['chapter']}.md").read_text()
        assert any(p.fullmatch(row["key"]) for p in glue_patterns(source)), \
            f"{row['chapter']} does not glue {row['key']!r}"
        format(1.0, row["format"])  # a valid format spec for a number
        assert row["metric"] and row["anchor"]


def test_chapters_in_toc_lists_every_executable_chapter():
    executable = {p.stem for p in (ROOT / "book").glob("*.md") if "```{code-cell}" in p.read_text()}
    assert set(book_runtime.chapters_in_toc()) == executable


def test_tables_and_readme_block(tmp_path):
    result = {"fit_seconds": 1.0, "tutorial_seconds": 4.0, "ratio": 0.25, "device": "CPU"}
    glued = {"linear_autoencoders": {"ae30_error": 4.0234}}
    block = run.tables(result, {"first_look": 10.0, "linear_autoencoders": 150.0}, glued, "full")
    assert "| whole book | 160 |" in block and "| 4.02 |" in block and "not run" in block
    readme = tmp_path / "README.md"
    readme.write_text(f"# x\n\nbefore\n{run.START}\nold\n{run.END}\nafter\n")
    run.write_readme(block, readme)
    text = readme.read_text()
    assert "old" not in text and block in text and text.startswith("# x") and text.endswith("after\n")
    readme.write_text("no markers")
    with pytest.raises(ValueError, match="markers"):
        run.write_readme(block, readme)


def test_readme_has_the_benchmark_block():
    text = (ROOT / "README.md").read_text()
    assert run.START in text and run.END in text and "python benchmarks/run.py" in text


def test_ae30_reference_run_reports_when_it_reaches_the_target():
    reference = load("ae30_reference")
    result = reference.run(target=1e9, epochs=2, device="cpu", n_train=512)   # any error reaches a huge target
    assert len(result["test_errors"]) == 2 and result["reached_epoch"] == 1
    assert 0 < result["seconds_to_target"] <= result["seconds_total"]
    assert result["final_error"] == pytest.approx(result["test_errors"][-1], rel=1e-3)
    never = reference.run(target=0.0, epochs=1, device="cpu", n_train=256)
    assert never["reached_epoch"] is None and never["seconds_to_target"] is None


def test_vae_reference_run_reports_nll_by_k_and_its_curve():
    reference = load("vae_reference")
    result = reference.run(epochs=2, channels=(4, 8), latent_dim=4, ks=(1, 10), test_images=20, eval_every=2,
                           device="cpu", n_train=256)
    assert [point["epoch"] for point in result["quick_curve"]] == [2]   # measured every 2 epochs and at the end
    assert result["test_images"] == 20 and result["k"] == 10 and result["nll"] == result["nll_by_k"]["10"]
    # Same draws for both k: log of a mean weight >= mean of log weights (Jensen), so the k = 10 NLL is lower.
    assert 0 < result["nll_by_k"]["10"] <= result["nll_by_k"]["1"]
    assert result["nll_standard_error"] > 0


def test_anomaly_reference_run_reports_the_auroc_table():
    reference = load("anomaly_reference")
    result = reference.run(epochs=1, seeds=(0, 1), device="cpu", n_per_digit=64, n_test=500)
    assert sorted(result["ae_by_digit"]) == [str(d) for d in range(10)] == sorted(result["pca_by_digit"])
    assert result["test_images"] == 500 and result["seeds"] == [0, 1]
    # The mean over digits is the mean of the per-seed means; every AUROC is a percentage, and even this tiny
    # budget tells digits apart better than a coin toss (PCA on 64 images of a digit does).
    assert result["ae_mean"] == pytest.approx(np.mean(list(result["ae_by_digit"].values())))
    assert result["ae_mean_low"] <= result["ae_mean"]
    assert all(0 <= value <= 100 for value in [*result["ae_by_digit"].values(), *result["pca_by_digit"].values()])
    assert result["pca_mean"] > 75


def test_reference_rows_read_saved_results(tmp_path, monkeypatch):
    assert run.reference_result("no_such_reference_run") == {}
    block = run.tables({"fit_seconds": 1.0, "tutorial_seconds": 2.0, "ratio": 0.5, "device": "cpu"}, {}, {}, "full")
    for row in run.quality_rows():
        if "reference" in row:
            assert f"`benchmarks/{row['reference']}.py`" in block


def test_from_build_cache_says_when_there_is_no_build(tmp_path):
    with pytest.raises(FileNotFoundError, match="build"):
        book_runtime.from_build_cache(tmp_path / "nothing")


def _saved_gpu_run(chapters, failed=None):
    return {"date": "2026-11-28", "machine": "x86_64, 16 CPU threads, NVIDIA H200, torch 2.11", "device": "cuda",
            "mode": "full", "pipeline": {"fit_seconds": 0.2, "tutorial_seconds": 5.0, "ratio": 0.04},
            "chapters": {name: {"seconds": 10.0, "kernel_seconds": 1.5, "imports_seconds": 4.0} for name in chapters},
            "failed": failed or {}}


def test_gpu_tables_name_the_gpu_and_the_ratio_and_add_up_the_book_only_when_every_chapter_ran():
    names = book_runtime.chapters_in_toc()
    block = run.gpu_tables(_saved_gpu_run(names))
    assert "NVIDIA H200" in block and "2026-11-28" in block and "| 25.0× |" in block
    assert f"| whole book (target: at most 120) | {10 * len(names)} | " in block
    partial = run.gpu_tables(_saved_gpu_run(names[:2], {names[2]: "AssertionError in the cell that starts `x`"}))
    assert "not measured: not every chapter ran" in partial and "failed: AssertionError" in partial
    assert f"| `{names[3]}` | not run |" in partial


def test_gpu_tables_show_speedups_checks_and_reference_runs():
    speedups = {"rows": {"tutorial": 5.0, "fit": 0.25}, "labels": {"tutorial": "tutorial", "fit": "fit"},
                "notes": ["a note"]}
    checks = {"conv_ae": {"gpu_loss": 79.2, "gpu_rerun_loss": 79.2, "cpu_loss": 79.3, "gpu_cpu_loss_gap_percent": 0.1,
                          "rerun_weight_gap": 0.0}}
    references = {"vae_reference": {"architecture": "ConvVAE", "epochs": 20, "k": 5000, "test_images": 1000,
                                    "nll": 88.56, "minutes_train": 0.5, "minutes_eval": 0.2}}
    block = run.gpu_tables(_saved_gpu_run(["first_look"]), speedups, references, checks)
    assert "| fit | 0.250 | 20.0× |" in block and "| a note |" in block
    assert "| `conv_ae` | 79.2000 | 79.2000 |" in block
    assert "| 88.56 | 0.7 |" in block and "20 epochs" in block


def test_saved_gpu_results_read_what_the_gpu_run_left(tmp_path):
    assert run.saved_gpu_results(tmp_path) is None
    (tmp_path / "gpu.json").write_text(json.dumps(_saved_gpu_run(["first_look"])))
    saved, speedups, references, checks = run.saved_gpu_results(tmp_path)
    assert saved["chapters"]["first_look"]["seconds"] == 10.0
    assert speedups is None and references == {} and checks is None


def test_readme_carries_the_gpu_tables_measured_on_a_gpu():
    text = (ROOT / "README.md").read_text()
    block = text.split(run.GPU_START)[1].split(run.GPU_END)[0]
    assert "NVIDIA" in block and "torch" in block and "speed-up of `fit`" in block


def test_failure_names_the_error_and_the_cell():
    nbformat = pytest.importorskip("nbformat")
    from nbclient.exceptions import CellExecutionError
    cell = nbformat.v4.new_code_cell("assert claim  # on every seed\nmore")
    error = CellExecutionError.from_cell_and_msg(cell, {"ename": "AssertionError", "evalue": "", "traceback": []})
    assert book_runtime.failure(error) == "AssertionError in the cell that starts `assert claim  # on every seed`"
    assert book_runtime.failure(ValueError("bad")) == "ValueError: bad"
