import pytest
import torch

import aecourse


@pytest.fixture(scope="session")
def mnist_train():
    return aecourse.load_mnist("train")


@pytest.fixture(scope="session")
def mnist_test():
    return aecourse.load_mnist("test")


@pytest.fixture
def small_images(mnist_train):
    """512 real training digits, a fresh copy per test."""
    return mnist_train[0][:512].clone()


@pytest.fixture(autouse=True)
def _seeded():
    aecourse.seed_everything(0)
    torch.set_num_threads(max(1, torch.get_num_threads()))
