import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from aecourse.plot import compare_images, image_grid, plot_history  # noqa: E402
from aecourse.train import History  # noqa: E402


def test_image_grid_draws_the_pixels_unscaled():
    images = torch.zeros(6, 1, 28, 28)
    images[0, 0, 0, 0] = 0.5
    ax = image_grid(images, nrow=3)
    data = ax.get_images()[0].get_array()
    assert data.shape == (2 * 30 + 2, 3 * 30 + 2)  # 28 + 2 padding per image, plus the last border
    assert data[2, 2] == 0.5 and ax.get_images()[0].get_clim() == (0.0, 1.0)
    plt.close("all")


def test_image_grid_rejects_bad_images():
    with pytest.raises(ValueError, match=r"shape \(N, 1, 28, 28\)"):
        image_grid(torch.zeros(4, 28, 28))


def test_plot_history_draws_train_and_val():
    history = History(train={"loss": [3.0, 2.0]}, val={"loss": [3.5, 2.5]}, seconds=[1.0, 1.0])
    ax = plot_history(history)
    assert [tuple(line.get_ydata()) for line in ax.get_lines()] == [(3.0, 2.0), (3.5, 2.5)]
    with pytest.raises(ValueError, match="no term 'kl'"):
        plot_history(history, term="kl")
    plt.close("all")


def test_compare_images_labels_rows_and_checks_lengths():
    ax = compare_images({"original": torch.rand(4, 1, 28, 28), "reconstruction": torch.rand(4, 1, 28, 28)})
    assert [t.get_text() for t in ax.get_yticklabels()] == ["original", "reconstruction"]
    with pytest.raises(ValueError, match="same number of images"):
        compare_images({"a": torch.rand(4, 1, 28, 28), "b": torch.rand(3, 1, 28, 28)})
    plt.close("all")
