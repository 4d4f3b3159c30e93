import random

import numpy as np
import pytest
import torch

import aecourse
from aecourse.runtime import budget, describe_device, get_device, quick_mode, seed_everything


def test_get_device_prefers_cuda_then_mps_then_cpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert get_device().type == "cuda"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)
    assert get_device().type == "mps"
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    assert get_device() == torch.device("cpu")


def test_describe_device_on_cpu_hints_at_colab_gpu():
    assert "cpu" in describe_device(torch.device("cpu")) and "GPU" in describe_device(torch.device("cpu"))


def test_seed_everything_repeats_python_numpy_and_torch():
    def draw():
        return random.random(), np.random.rand(), torch.rand(3)

    seed_everything(123)
    a = draw()
    seed_everything(123)
    b = draw()
    assert a[0] == b[0] and a[1] == b[1] and torch.equal(a[2], b[2])
    seed_everything(124)
    assert draw()[0] != a[0]


def test_seed_everything_rejects_non_int():
    with pytest.raises(TypeError, match="seed must be an int"):
        seed_everything("0")


@pytest.mark.parametrize("value,expected", [("1", True), ("0", False), ("", False), ("true", True)])
def test_quick_mode_and_budget(monkeypatch, value, expected):
    monkeypatch.setenv("AECOURSE_QUICK", value)
    assert quick_mode() is expected
    assert budget(full=20, quick=1) == (1 if expected else 20)


def test_budget_defaults_to_full(monkeypatch):
    monkeypatch.delenv("AECOURSE_QUICK", raising=False)
    assert budget(full="published", quick="ci") == "published"


def test_quick_mode_rejects_typos(monkeypatch):
    monkeypatch.setenv("AECOURSE_QUICK", "maybe")
    with pytest.raises(ValueError, match="AECOURSE_QUICK must be 0 or 1"):
        quick_mode()


def test_top_level_api():
    for name in ["get_device", "seed_everything", "fit", "load_mnist", "budget", "History"]:
        assert hasattr(aecourse, name)


@pytest.mark.parametrize("value, expected", [
    (np.float64(95.25), 95.25), (np.int64(7), 7), (np.bool_(True), True), (torch.tensor(2.5), 2.5),
    (3.0, 3.0), ("text", "text"),
])
def test_glue_records_numpy_and_tensor_scalars_as_python_numbers(monkeypatch, value, expected):
    # myst-nb formats `{glue:text}x:.1f` by parsing the value's repr; NumPy 2's 'np.float64(95.25)' broke the build
    import myst_nb
    recorded = {}
    monkeypatch.setattr(myst_nb, "glue", lambda name, v, display=True: recorded.update({name: v}))
    aecourse.glue("value", value)
    assert recorded["value"] == expected
    assert type(recorded["value"]) is type(expected)
    assert repr(recorded["value"]) == repr(expected)


def test_glue_leaves_arrays_alone(monkeypatch):
    import myst_nb
    recorded = {}
    monkeypatch.setattr(myst_nb, "glue", lambda name, v, display=True: recorded.update({name: v}))
    array = np.arange(3.0)
    aecourse.glue("array", array)
    assert recorded["array"] is array
