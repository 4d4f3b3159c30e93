"""aecourse.attributes: known values on drawn strokes, invariances, and the VAE latent chapter's own definitions."""
from __future__ import annotations

import ast
import math
from pathlib import Path

import jupytext
import pytest
import torch

from aecourse import attributes
from aecourse.data import load_mnist

BOOK = Path(__file__).resolve().parents[1] / "book"


def bar(rows: slice, cols: slice) -> torch.Tensor:
    image = torch.zeros(1, 1, 28, 28)
    image[..., rows, cols] = 1.0
    return image


def leaning_bar(step: int = 2) -> torch.Tensor:
    """A 3-pixel-wide stroke 20 rows tall that moves one column right every `step` rows upwards."""
    image = torch.zeros(1, 1, 28, 28)
    for row in range(4, 24):
        column = 8 + (23 - row) // step
        image[0, 0, row, column:column + 3] = 1.0
    return image


def test_ink_mass_counts_the_ink():
    assert attributes.ink_mass(bar(slice(4, 24), slice(12, 15))).item() == 60.0
    assert attributes.ink_mass(0.5 * bar(slice(4, 24), slice(12, 15))).item() == 30.0


def test_an_upright_bar_has_no_slant_and_a_leaning_one_leans_right():
    assert attributes.slant(bar(slice(4, 24), slice(12, 15))).item() == pytest.approx(0.0, abs=1e-6)
    assert attributes.slant(leaning_bar(2)).item() == pytest.approx(0.5, abs=0.02)
    mirrored = leaning_bar(2).flip(-1)
    assert attributes.slant(mirrored).item() == pytest.approx(-attributes.slant(leaning_bar(2)).item(), abs=1e-5)


def test_width_is_the_spread_across_the_stroke_and_ignores_the_lean():
    # a bar w pixels wide: uniform over w columns has standard deviation sqrt((w^2 - 1) / 12)
    for w in (1, 3, 7):
        expected = ((w * w - 1) / 12) ** 0.5
        assert attributes.width(bar(slice(4, 24), slice(10, 10 + w))).item() == pytest.approx(expected, abs=1e-4)
    upright = attributes.width(bar(slice(4, 24), slice(12, 15))).item()
    assert attributes.width(leaning_bar(2)).item() == pytest.approx(upright, abs=0.1)


def stroke(angle: float, width: float, length: float = 18.0, supersample: int = 8) -> torch.Tensor:
    """A straight stroke through the centre at `angle` (radians), rendered with anti-aliased edges."""
    n = 28 * supersample
    centres = (torch.arange(n) + 0.5) / supersample - 14
    y, x = torch.meshgrid(centres, centres, indexing="ij")
    along = x * math.cos(angle) + y * math.sin(angle)
    across = -x * math.sin(angle) + y * math.cos(angle)
    fine = ((along.abs() <= length / 2) & (across.abs() <= width / 2)).float()
    return torch.nn.functional.avg_pool2d(fine.view(1, 1, n, n), supersample)


@pytest.mark.parametrize("width", [2.0, 3.0, 4.0])
def test_thickness_is_the_stroke_width_in_any_direction(width):
    # m = t L and TV ~ 2 (L + t): t(x) is close to t L / (L + t), for an upright, a tilted and a diagonal stroke
    expected = width * 18 / (18 + width)
    for angle in (0.0, math.pi / 8, math.pi / 4, math.pi / 2):
        assert attributes.thickness(stroke(angle, width)).item() == pytest.approx(expected, rel=0.15), angle


def test_attributes_are_invariant_to_translation_and_thickness_to_brightness():
    image = leaning_bar(2)
    moved = image.roll(shifts=(2, -3), dims=(2, 3))
    for measure in (attributes.ink_mass, attributes.slant, attributes.width, attributes.thickness):
        assert measure(moved).item() == pytest.approx(measure(image).item(), rel=1e-5)
    assert attributes.thickness(0.5 * image).item() == pytest.approx(attributes.thickness(image).item())


def test_thicker_digits_measure_thicker():
    images = load_mnist("test")[0][:500]
    dilated = torch.nn.functional.max_pool2d(images, 3, stride=1, padding=1)
    assert (attributes.thickness(dilated) > attributes.thickness(images)).all()
    assert (attributes.ink_mass(dilated) > attributes.ink_mass(images)).all()


def test_batch_shapes_and_finite_values_on_mnist():
    images = load_mnist("test")[0][:1000]
    for measure in (attributes.ink_mass, attributes.slant, attributes.width, attributes.thickness):
        values = measure(images)
        assert values.shape == (1000,) and values.isfinite().all()


def test_the_vae_latent_chapter_measures_are_the_package_ones():
    """book/vae_latent_space.md writes ink_mass and slant out; they must stay the package's functions."""
    images = load_mnist("test")[0][:200]
    source = next(cell.source for cell in jupytext.read(BOOK / "vae_latent_space.md").cells
                  if cell.cell_type == "code" and "\ndef ink_mass" in f"\n{cell.source}")
    # the cell goes on to train and edit; run only its two definitions
    definitions = [node for node in ast.parse(source).body
                   if isinstance(node, ast.FunctionDef) and node.name in ("ink_mass", "slant")]
    namespace: dict = {"torch": torch}
    exec(compile(ast.Module(body=definitions, type_ignores=[]), "book/vae_latent_space.md", "exec"), namespace)
    for name in ("ink_mass", "slant"):
        torch.testing.assert_close(namespace[name](images), getattr(attributes, name)(images))
