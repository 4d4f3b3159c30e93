"""Where and how a chapter runs: the device, the seeds, and the run budget (quick vs full mode)."""
from __future__ import annotations

import os
import random
from typing import TypeVar

import numpy as np
import torch

T = TypeVar("T")


def get_device() -> torch.device:
    """The fastest device here: CUDA if available, else Apple MPS, else the CPU."""
    if torch.cuda.is_available():
        return torch.device("cuda")
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def as_device(device: object) -> torch.device:
    """``device`` (``"cpu"``, ``"cuda"``, ``"cuda:0"``, ``"mps"`` or a ``torch.device``) as a ``torch.device``, or a
    clear error for a name torch does not know or a device this machine does not have."""
    if isinstance(device, bool) or not isinstance(device, (str, int, torch.device)):
        raise TypeError(f"device must be a string such as 'cpu' or 'cuda', a GPU index or a torch.device, "
                        f"got {device!r}")
    try:
        device = torch.device(device)
    except RuntimeError as error:
        raise ValueError(f"unknown device {str(device)!r}; expected 'cpu', 'cuda', 'cuda:N' or 'mps'") from error
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError("device 'cuda' asked for, but torch finds no CUDA GPU here; use aecourse.get_device()")
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise ValueError("device 'mps' asked for, but this machine has no Apple GPU; use aecourse.get_device()")
    return device


def describe_device(device: torch.device | str | None = None) -> str:
    """A one-line description of ``device`` for a chapter to print, with a hint when it is the CPU."""
    device = get_device() if device is None else as_device(device)
    if device.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(device)})"
    if device.type == "mps":
        return "mps (Apple GPU)"
    return f"cpu ({torch.get_num_threads()} threads); in Colab, Runtime > Change runtime type > GPU makes it faster"


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (all devices), and ask cuDNN for deterministic kernels.

    On the CPU this makes a rerun give exactly the same numbers. On a GPU some kernels stay
    non-deterministic (forcing them all would cost speed), so results agree to rounding only.
    """
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise TypeError(f"seed must be an int, got {type(seed).__name__}")
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    torch.backends.cudnn.deterministic = True
    torch.backends.cudnn.benchmark = False


def quick_mode() -> bool:
    """True when the environment variable ``AECOURSE_QUICK`` is set to 1 (CI executes the notebooks so)."""
    value = os.environ.get("AECOURSE_QUICK", "0").strip().lower()
    if value in ("", "0", "false", "no"):
        return False
    if value in ("1", "true", "yes"):
        return True
    raise ValueError(f"AECOURSE_QUICK must be 0 or 1, got {value!r}")


def budget(full: T, quick: T) -> T:
    """``full`` normally, ``quick`` in quick mode: ``epochs = budget(full=20, quick=1)``.

    This is the one place where the published configuration of a chapter and its fast CI
    configuration part ways; chapters never read ``AECOURSE_QUICK`` themselves.
    """
    return quick if quick_mode() else full


def plain_number(value: object) -> object:
    """A NumPy scalar or 0-d tensor as the Python number it holds; anything else unchanged.

    NumPy 2 shows ``np.float64(95.3)`` where NumPy 1 showed ``95.3``, and myst-nb formats a glued number by
    parsing that text, so ``{glue:text}`x:.1f``` fails on NumPy scalars. Converting here keeps every chapter's
    glue calls free of ``float(...)``.
    """
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, torch.Tensor) and value.ndim == 0:
        return value.item()
    return value


def glue(name: str, value: object, display: bool = False) -> None:
    """Record ``value`` under ``name`` so the book's text can show it (``{glue:text}`name:.2f` ``).

    Uses ``myst_nb.glue`` when the book is being built; in Colab or plain Jupyter, where myst-nb is usually
    missing, the value is only displayed (``display=True``) or nothing happens. Returns nothing, so the
    last line of a cell does not echo the value.
    """
    if not isinstance(name, str):
        raise TypeError(f"glue name must be a string, got {type(name).__name__}")
    if not name.replace("_", "").replace("-", "").isalnum():
        raise ValueError(f"glue name must be a non-empty string of letters, digits, '_' or '-', got {name!r}")
    value = plain_number(value)
    try:
        from myst_nb import glue as myst_glue
    except ImportError:
        if display:
            from IPython.display import display as show
            show(value)
        return
    myst_glue(name, value, display=display)
