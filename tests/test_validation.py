import pytest
import torch

from aecourse.validation import check_choice, check_images, check_non_negative_number


def test_accepts_good_images():
    x = torch.rand(3, 1, 28, 28)
    assert check_images(x) is x


@pytest.mark.parametrize("bad,error,message", [
    ([[0.0]], TypeError, "must be a torch.Tensor"),
    (torch.zeros(2, 1, 28, 28, dtype=torch.uint8), TypeError, "floating-point.*divide by 255"),
    (torch.zeros(2, 784), ValueError, r"shape \(N, 1, 28, 28\).*flattened"),
    (torch.zeros(2, 3, 28, 28), ValueError, r"got \(2, 3, 28, 28\)"),
    (torch.zeros(0, 1, 28, 28), ValueError, "empty"),
    (torch.full((2, 1, 28, 28), 255.0), ValueError, r"values in \[0, 1\].*max 255"),
    (torch.full((2, 1, 28, 28), -0.5), ValueError, r"values in \[0, 1\].*min -0.5"),
    (torch.full((2, 1, 28, 28), float("nan")), ValueError, r"values in \[0, 1\]"),
])
def test_rejects_bad_images_with_clear_messages(bad, error, message):
    with pytest.raises(error, match=message):
        check_images(bad)


def test_check_choice_lists_options():
    assert check_choice("a", "option", ["a", "b"]) == "a"
    with pytest.raises(ValueError, match="unknown option 'c'; expected one of 'a', 'b'"):
        check_choice("c", "option", ["a", "b"])


def test_check_non_negative_number():
    assert check_non_negative_number(0, "beta") == 0.0 and check_non_negative_number(2.5, "beta") == 2.5
    for bad in (-1, float("nan"), float("inf"), True, "1", None):
        with pytest.raises(ValueError, match="beta must be a non-negative number"):
            check_non_negative_number(bad, "beta")
