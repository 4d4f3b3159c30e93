import hashlib
import shutil

import numpy as np
import pytest
import torch

import aecourse
from aecourse.data import MNIST_PATH, MNIST_SHA256, load_mnist, minibatches

OFFICIAL_COUNTS = {
    "train": [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949],
    "test": [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009],
}


@pytest.mark.parametrize("split,n", [("train", 60_000), ("test", 10_000)])
def test_load_mnist_shapes_dtypes_range_and_counts(split, n):
    images, labels = load_mnist(split)
    assert images.shape == (n, 1, 28, 28) and images.dtype == torch.float32
    assert labels.shape == (n,) and labels.dtype == torch.int64
    assert images.min() == 0.0 and images.max() == 1.0
    assert torch.bincount(labels, minlength=10).tolist() == OFFICIAL_COUNTS[split]


def test_pixels_are_exact_multiples_of_one_255th(mnist_test):
    images, _ = mnist_test
    assert torch.equal(torch.round(images * 255) / 255, images)


def test_official_order_first_labels(mnist_train, mnist_test):
    # The first labels of the official files (LeCun's idx files): 5 0 4 1 9 ... and 7 2 1 0 4 ...
    assert mnist_train[1][:8].tolist() == [5, 0, 4, 1, 9, 2, 1, 3]
    assert mnist_test[1][:8].tolist() == [7, 2, 1, 0, 4, 1, 4, 9]


def test_shipped_file_matches_its_checksum():
    assert hashlib.sha256(MNIST_PATH.read_bytes()).hexdigest() == MNIST_SHA256


def test_corrupted_copy_gives_clear_error(tmp_path):
    copy = tmp_path / "mnist.npz"
    shutil.copy(MNIST_PATH, copy)
    raw = bytearray(copy.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    copy.write_bytes(bytes(raw))
    with pytest.raises(ValueError, match="corrupted.*sha256"):
        load_mnist("test", path=copy)


def test_missing_file_gives_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="MNIST data file not found"):
        load_mnist("train", path=tmp_path / "nowhere.npz")


def test_unknown_split_is_rejected():
    with pytest.raises(ValueError, match="unknown split 'validation'.*'train', 'test'"):
        load_mnist("validation")


def test_load_onto_device_argument():
    images, labels = load_mnist("test", device="cpu")
    assert images.device.type == "cpu" and labels.device.type == "cpu"


@pytest.mark.parametrize("n,batch_size", [(10, 3), (12, 4), (1, 5), (1000, 128)])
def test_minibatches_cover_every_index_exactly_once(n, batch_size):
    batches = list(minibatches(n, batch_size, generator=torch.Generator().manual_seed(1)))
    assert all(len(b) == batch_size for b in batches[:-1]) and 0 < len(batches[-1]) <= batch_size
    assert sorted(torch.cat(batches).tolist()) == list(range(n))


def test_minibatches_shuffle_is_seeded_and_epochs_differ():
    def epoch(gen):
        return torch.cat(list(minibatches(100, 7, generator=gen)))

    g1, g2 = torch.Generator().manual_seed(3), torch.Generator().manual_seed(3)
    first = epoch(g1)
    assert torch.equal(first, epoch(g2))            # same seed, same order
    assert not torch.equal(first, epoch(g1))        # the next epoch gets a new order
    assert torch.equal(torch.cat(list(minibatches(5, 2, shuffle=False))), torch.arange(5))


@pytest.mark.parametrize("bad", [0, -1, 2.5, True])
def test_minibatches_reject_bad_sizes(bad):
    with pytest.raises(ValueError, match="batch_size must be a positive int"):
        list(minibatches(10, bad))


def test_build_script_reproduces_file_from_arrays(tmp_path):
    """The rebuild script writes byte-identical files for identical arrays (fixed zip timestamps)."""
    import importlib.util
    from pathlib import Path

    spec = importlib.util.spec_from_file_location("build_mnist", Path(__file__).parents[1] / "scripts" / "build_mnist.py")
    build = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(build)
    with np.load(MNIST_PATH) as npz:
        arrays = {name: npz[name] for name in npz.files}
    digest = build.write_atomically(arrays, tmp_path / "mnist.npz")
    assert digest == MNIST_SHA256
    assert [p.name for p in tmp_path.iterdir()] == ["mnist.npz"]  # no temporary file left behind


def test_random_shift_moves_each_image_by_at_most_the_given_pixels():
    from aecourse.data import random_shift
    images = torch.zeros(200, 1, 28, 28)
    images[:, 0, 10, 12] = 1.0
    shifted = random_shift(images, 2, torch.Generator().manual_seed(0))
    rows, cols = (shifted[:, 0] == 1).nonzero()[:, 1:].T
    assert shifted.sum() == 200 and set(rows.tolist()) == set(range(8, 13)) and set(cols.tolist()) == set(range(10, 15))
    edge = torch.zeros(1, 1, 28, 28)
    edge[..., 0, :] = 1.0   # a top row moved up falls off the image: zeros come in, nothing wraps around
    assert all(random_shift(edge, 1, torch.Generator().manual_seed(s)).sum() in (28, 27, 0) for s in range(20))
    assert random_shift(images, 0) is images
    two_channels = torch.rand(3, 2, 5, 5)
    moved = random_shift(two_channels, 1, torch.Generator().manual_seed(1))
    assert moved.shape == two_channels.shape
