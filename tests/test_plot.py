import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from aecourse import plot  # noqa: E402
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


class _CodeDrawer(torch.nn.Module):
    """A fake decoder whose image shows its code: left half = sigmoid(z1), right half = sigmoid(z2)."""

    def __init__(self):
        super().__init__()
        self.dummy = torch.nn.Parameter(torch.zeros(1))

    def decode(self, z):
        images = torch.zeros(len(z), 1, 28, 28)
        images[:, :, :, :14] = torch.sigmoid(z[:, 0]).view(-1, 1, 1, 1)
        images[:, :, :, 14:] = torch.sigmoid(z[:, 1]).view(-1, 1, 1, 1)
        return images


def test_decode_latent_grid_lays_out_z1_across_and_z2_down():
    codes = torch.stack([torch.linspace(-2, 2, 101), torch.linspace(-1, 3, 101)], dim=1)
    images = plot.decode_latent_grid(_CodeDrawer(), codes, steps=5)
    assert images.shape == (25, 1, 28, 28)
    z1 = torch.logit(images[:, 0, 0, 0]).view(5, 5)
    z2 = torch.logit(images[:, 0, 0, 20]).view(5, 5)
    assert (z1.diff(dim=1) > 0).all() and torch.allclose(z1[:, 0], z1[0, 0].expand(5))
    assert (z2.diff(dim=0) < 0).all() and torch.allclose(z2[0], z2[0, 0].expand(5))
    assert z1.min() > -2 and z1.max() < 2   # 1st to 99th percentile, not the extremes


def test_plot_latent_plane_draws_one_picture():
    codes = torch.randn(200, 2, generator=torch.Generator().manual_seed(0))
    ax = plot.plot_latent_plane(_CodeDrawer(), codes, steps=4)
    assert ax.images[0].get_array().shape[:2] == (4 * 28, 4 * 28)
    plt.close("all")


def test_latent_explorer_redraws_when_a_slider_moves():
    codes = torch.randn(200, 2, generator=torch.Generator().manual_seed(0))
    explorer = plot.latent_explorer(_CodeDrawer(), codes)
    sliders, picture = explorer.children[0].children, explorer.children[1]
    before = picture.value
    assert before[:4] == b"\x89PNG"
    sliders[0].value = sliders[0].max
    assert picture.value != before


def test_latent_tools_explain_bad_input():
    with pytest.raises(ValueError, match=r"shape \(N, 2\)"):
        plot.decode_latent_grid(_CodeDrawer(), torch.zeros(10, 3))
    with pytest.raises(TypeError, match="decode"):
        plot.decode_latent_grid(torch.nn.Linear(2, 2), torch.zeros(10, 2))
