"""The yardstick for generated images: the shipped classifier and the two scores built on it."""
import math

import pytest
import torch

from aecourse import yardstick
from aecourse.yardstick import frechet_distance, gaussian_frechet_distance
from aecourse.data import load_mnist


def random_orthogonal(d: int, seed: int) -> torch.Tensor:
    q, _ = torch.linalg.qr(torch.randn(d, d, generator=torch.Generator().manual_seed(seed), dtype=torch.float64))
    return q


def test_frechet_distance_of_gaussians_has_its_closed_form():
    d = 5
    eye = torch.eye(d, dtype=torch.float64)
    shift = torch.arange(d, dtype=torch.float64)
    # equal covariances: only the means count
    assert gaussian_frechet_distance(torch.zeros(d), eye, shift, eye) == pytest.approx(float(shift.square().sum()))
    # isotropic: d (a - b)^2
    assert gaussian_frechet_distance(torch.zeros(d), 4 * eye, torch.zeros(d), 9 * eye) == pytest.approx(d * 1.0)
    # diagonal: sum of (sqrt(a_i) - sqrt(b_i))^2
    a, b = torch.tensor([1.0, 4.0, 9.0]), torch.tensor([4.0, 4.0, 1.0])
    expected = float((a.sqrt() - b.sqrt()).square().sum())
    assert gaussian_frechet_distance(torch.zeros(3), a.diag(), torch.zeros(3), b.diag()) == pytest.approx(expected)


def test_frechet_distance_matches_scipy_for_covariances_that_do_not_commute():
    scipy_linalg = pytest.importorskip("scipy.linalg")
    generator = torch.Generator().manual_seed(0)
    m1, m2 = torch.randn(6, 6, generator=generator, dtype=torch.float64), torch.randn(6, 6, generator=generator,
                                                                                      dtype=torch.float64)
    c1, c2 = m1 @ m1.T + 0.1 * torch.eye(6), m2 @ m2.T + 0.1 * torch.eye(6)
    mu1, mu2 = torch.randn(6, generator=generator, dtype=torch.float64), torch.zeros(6, dtype=torch.float64)
    cross = scipy_linalg.sqrtm(c1.numpy() @ c2.numpy()).real.trace()
    expected = float((mu1 - mu2).square().sum() + c1.trace() + c2.trace()) - 2 * cross
    assert gaussian_frechet_distance(mu1, c1, mu2, c2) == pytest.approx(expected, rel=1e-8)


def test_frechet_distance_of_samples_is_invariant_and_symmetric():
    generator = torch.Generator().manual_seed(1)
    x = torch.randn(500, 8, generator=generator, dtype=torch.float64)
    y = 1.5 * torch.randn(400, 8, generator=generator, dtype=torch.float64) + 0.3
    base = frechet_distance(x, y)
    q, offset = random_orthogonal(8, 2), torch.randn(8, generator=generator, dtype=torch.float64)
    assert frechet_distance(x @ q + offset, y @ q + offset) == pytest.approx(base, rel=1e-9)   # rotation, shift
    assert frechet_distance(y, x) == pytest.approx(base, rel=1e-9)                             # symmetric
    assert frechet_distance(x, x) == pytest.approx(0.0, abs=1e-9)                              # zero for itself
    assert frechet_distance(2 * x, 2 * y) == pytest.approx(4 * base, rel=1e-9)                 # scales as a square


@pytest.mark.parametrize("a,b,message", [
    (torch.zeros(10), torch.zeros(10, 3), r"\(N, d\)"),
    (torch.zeros(1, 3), torch.zeros(10, 3), "N >= 2"),
    (torch.zeros(10, 3), torch.zeros(10, 4), "differ in width"),
    (torch.full((10, 3), math.nan), torch.zeros(10, 3), "NaN"),
])
def test_frechet_distance_rejects_bad_features(a, b, message):
    with pytest.raises(ValueError, match=message):
        frechet_distance(a, b)


def test_the_shipped_classifier_reaches_its_accuracy(mnist_test):
    images, labels = mnist_test
    classifier = yardstick.load_classifier()
    with torch.no_grad():
        predictions = torch.cat([classifier(batch).argmax(dim=1) for batch in images.split(1000)])
    accuracy = (predictions == labels).float().mean().item()
    assert accuracy >= 0.993
    assert yardstick.classifier_confidence(images[:2000], classifier) > 0.97
    blends = (images[:500] + images[500:1000]) / 2     # two digits on top of each other: not one clear digit
    assert yardstick.classifier_confidence(blends, classifier) < yardstick.classifier_confidence(images[:500],
                                                                                                  classifier) - 0.1
    assert yardstick.classifier_features(images[:10], classifier).shape == (10, yardstick.FEATURES)


def test_real_digits_are_closer_to_real_digits_than_noise_is(mnist_train, mnist_test):
    classifier = yardstick.load_classifier()
    train_features = yardstick.classifier_features(mnist_train[0][:2000], classifier)
    floor = frechet_distance(train_features, yardstick.classifier_features(mnist_test[0][:2000], classifier))
    blurred = torch.nn.functional.avg_pool2d(mnist_test[0][:2000], 3, stride=1, padding=1)
    assert floor < frechet_distance(train_features, yardstick.classifier_features(blurred, classifier))
    # uniform noise fools the confidence score (the classifier is sure it sees an 8) but not the distance
    noise = torch.rand(2000, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    assert yardstick.classifier_confidence(noise, classifier) > 0.9
    assert frechet_distance(train_features, yardstick.classifier_features(noise, classifier)) > 10 * floor


def test_a_corrupted_classifier_file_is_refused(tmp_path):
    bad = tmp_path / "classifier.pt"
    bad.write_bytes(yardstick.CLASSIFIER_PATH.read_bytes()[:-10] + b"0123456789")
    with pytest.raises(ValueError, match="corrupted or not the expected version"):
        yardstick.load_classifier(path=bad)
    with pytest.raises(FileNotFoundError, match="ship with aecourse"):
        yardstick.load_classifier(path=tmp_path / "missing.pt")


def test_the_weights_file_holds_tensors_only():
    state = torch.load(yardstick.CLASSIFIER_PATH, map_location="cpu", weights_only=True)
    assert all(isinstance(value, torch.Tensor) for value in state.values())
    assert yardstick.CLASSIFIER_PATH.stat().st_size < 1_000_000


def test_histogram_entropy_known_values():
    assert yardstick.histogram_entropy(torch.full((10,), 0.1)) == pytest.approx(math.log(10))
    assert yardstick.histogram_entropy(torch.tensor([1.0, 0, 0])) == 0.0            # one bin: no uncertainty
    assert yardstick.histogram_entropy(torch.tensor([0.5, 0.5, 0, 0])) == pytest.approx(math.log(2))


@pytest.mark.parametrize("shares,message", [
    (torch.tensor([0.5, 0.6]), "sum to 1"),
    (torch.tensor([1.5, -0.5]), "non-negative"),
    (torch.tensor([math.nan, 1.0]), "finite"),
    (torch.ones(2, 5) / 10, r"\(K,\)"),
])
def test_histogram_entropy_rejects_what_is_not_a_histogram(shares, message):
    with pytest.raises(ValueError, match=message):
        yardstick.histogram_entropy(shares)


def test_label_entropy_is_ln10_for_balanced_real_digits_and_zero_for_one_digit():
    images, labels = load_mnist("test")
    classifier = yardstick.load_classifier()
    balanced = torch.cat([images[labels == digit][:50] for digit in range(10)])
    shares = yardstick.label_histogram(balanced, classifier)
    assert shares.shape == (10,) and float(shares.sum()) == pytest.approx(1.0)
    assert yardstick.label_entropy(balanced, classifier) == pytest.approx(math.log(10), abs=0.01)
    sevens = images[labels == 7][:200]
    assert yardstick.label_entropy(sevens, classifier) < 0.1
    assert int(yardstick.label_histogram(sevens, classifier).argmax()) == 7


def test_sample_scores_agree_with_the_separate_scores_and_rank_real_above_blurred():
    images, _ = load_mnist("test")
    classifier = yardstick.load_classifier()
    reference = yardstick.classifier_features(images[:1000], classifier)
    real, blurred = images[1000:2000], torch.nn.functional.avg_pool2d(images[1000:2000], 3, 1, 1)
    scores = yardstick.sample_scores(real, reference, classifier)
    assert set(scores) == {"fd", "confidence", "entropy", "sharpness"}
    assert scores["fd"] == pytest.approx(frechet_distance(yardstick.classifier_features(real, classifier), reference))
    assert scores["confidence"] == pytest.approx(yardstick.classifier_confidence(real, classifier), abs=1e-5)
    assert scores["entropy"] == pytest.approx(yardstick.label_entropy(real, classifier))
    worse = yardstick.sample_scores(blurred, reference, classifier)
    assert worse["fd"] > scores["fd"] and worse["sharpness"] < scores["sharpness"] / 3
