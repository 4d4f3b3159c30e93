"""Each exercise check passes a right answer, reports a stub, and explains a wrong answer precisely."""
import math
import numpy as np
import pytest
import torch
from torch import nn

from aecourse import check, losses
from aecourse.check import CheckFailed


def stub(*args):
    raise NotImplementedError


def test_squared_error_per_image():
    assert check.squared_error_per_image(lambda x_hat, x: (x_hat - x).square().sum(dim=(1, 2, 3))) is True
    assert check.squared_error_per_image(stub) is False
    with pytest.raises(CheckFailed, match=r"shape \(5,\), got \(\)"):
        check.squared_error_per_image(lambda x_hat, x: (x_hat - x).square().sum())
    with pytest.raises(CheckFailed, match="averaged over the pixels"):
        check.squared_error_per_image(lambda x_hat, x: (x_hat - x).square().mean(dim=(1, 2, 3)))
    with pytest.raises(CheckFailed, match="expected"):
        check.squared_error_per_image(lambda x_hat, x: (x_hat - x).abs().sum(dim=(1, 2, 3)))
    with pytest.raises(CheckFailed, match="no gradient"):
        check.squared_error_per_image(lambda x_hat, x: (x_hat.detach() - x).square().sum(dim=(1, 2, 3)))
    with pytest.raises(CheckFailed, match="torch.Tensor"):
        check.squared_error_per_image(lambda x_hat, x: [0.0] * 5)


def polynomial_r2_reference(z, target, degree):
    from sklearn.linear_model import LinearRegression
    from sklearn.metrics import r2_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import PolynomialFeatures
    z, target = np.asarray(z), np.asarray(target)
    half = len(z) // 2
    model = make_pipeline(PolynomialFeatures(degree), LinearRegression()).fit(z[:half], target[:half])
    return float(r2_score(target[half:], model.predict(z[half:])))


def test_polynomial_r2():
    assert check.polynomial_r2(polynomial_r2_reference) is True
    assert check.polynomial_r2(stub) is False
    with pytest.raises(CheckFailed, match="degree 3"):   # ignores the degree: always linear
        check.polynomial_r2(lambda z, t, degree: polynomial_r2_reference(z, t, 1))
    with pytest.raises(CheckFailed, match="one number"):
        check.polynomial_r2(lambda z, t, degree: [1.0])


def dead_reference(model, images):
    fractions, a = [], images
    with torch.no_grad():
        for layer in [*model.encoder, *model.decoder]:
            a = layer(a)
            if isinstance(layer, nn.ReLU):
                fractions.append((a.amax(dim=0) == 0).float().mean().item())
    return fractions


def test_dead_fractions():
    assert check.dead_fractions(dead_reference) is True
    assert check.dead_fractions(stub) is False
    with pytest.raises(CheckFailed, match="expected"):   # counts units that are zero for *some* image
        check.dead_fractions(lambda m, x: [f * 0 + 0.5 for f in dead_reference(m, x)])
    with pytest.raises(CheckFailed, match="one fraction per ReLU layer"):
        check.dead_fractions(lambda m, x: dead_reference(m, x)[:1])


def stamps_reference(kernel, stride, size):
    side = (size - 1) * stride + kernel
    counts = torch.zeros(side, side)
    for i in range(size):
        for j in range(size):
            counts[i * stride:i * stride + kernel, j * stride:j * stride + kernel] += 1
    return counts


def test_stamp_counts():
    assert check.stamp_counts(stamps_reference) is True
    assert check.stamp_counts(stub) is False
    with pytest.raises(CheckFailed, match="shape"):
        check.stamp_counts(lambda k, s, n: torch.ones(n * s, n * s))
    with pytest.raises(CheckFailed, match="kernel=3, stride=2"):
        check.stamp_counts(lambda k, s, n: torch.ones((n - 1) * s + k, (n - 1) * s + k))


def test_transposed_output_size():
    assert check.transposed_output_size(lambda i, k, s, p, op: (i - 1) * s - 2 * p + k + op) is True
    assert check.transposed_output_size(stub) is False
    with pytest.raises(CheckFailed, match="PyTorch gives 14, your function 13"):
        check.transposed_output_size(lambda i, k, s, p, op: (i - 1) * s - 2 * p + k)


def bce_reference(x_hat, x):
    x_hat = x_hat.clamp(1e-7, 1 - 1e-7)
    return -(x * torch.log(x_hat) + (1 - x) * torch.log(1 - x_hat)).sum(dim=(1, 2, 3))


def test_bce_per_image():
    assert check.bce_per_image(bce_reference) is True
    assert check.bce_per_image(stub) is False
    with pytest.raises(CheckFailed, match="averaged over the pixels"):
        check.bce_per_image(lambda x_hat, x: bce_reference(x_hat, x) / 784)
    with pytest.raises(CheckFailed, match="sign is flipped"):
        check.bce_per_image(lambda x_hat, x: -bce_reference(x_hat, x))
    with pytest.raises(CheckFailed, match="Clamp"):   # log(0) unguarded: NaN for a saturated output
        check.bce_per_image(lambda x_hat, x: -(x * torch.log(x_hat) + (1 - x) * torch.log(1 - x_hat)).sum(dim=(1, 2, 3)))
    with pytest.raises(CheckFailed, match="no gradient"):
        check.bce_per_image(lambda x_hat, x: bce_reference(x_hat.detach(), x))
    with pytest.raises(CheckFailed, match="gradient is NaN"):   # logs floored after the fact: finite loss, NaN gradient
        check.bce_per_image(lambda x_hat, x: -(x * torch.log(x_hat).clamp(min=-100)
                                               + (1 - x) * torch.log(1 - x_hat).clamp(min=-100)).sum(dim=(1, 2, 3)))


def good_decoder(latent_dim):
    return nn.Sequential(nn.Linear(latent_dim, 32), nn.ReLU(), nn.Linear(32, 784), nn.Sigmoid(),
                         nn.Unflatten(1, (1, 28, 28)))


def test_decoder():
    assert check.decoder(good_decoder) is True
    assert check.decoder(stub) is False
    with pytest.raises(CheckFailed, match="Unflatten"):
        check.decoder(lambda k: nn.Sequential(nn.Linear(k, 32), nn.ReLU(), nn.Linear(32, 784), nn.Sigmoid()))
    with pytest.raises(CheckFailed, match="sigmoid"):
        check.decoder(lambda k: nn.Sequential(nn.Linear(k, 32), nn.ReLU(), nn.Linear(32, 784),
                                              nn.Unflatten(1, (1, 28, 28))))
    with pytest.raises(CheckFailed, match="hidden layer"):
        check.decoder(lambda k: nn.Sequential(nn.Linear(k, 784), nn.Sigmoid(), nn.Unflatten(1, (1, 28, 28))))
    with pytest.raises(CheckFailed, match="nn.Module"):
        check.decoder(lambda k: "not a module")


class Tied(nn.Module):
    def __init__(self, latent_dim, use_decoder_bias=True, use_encoder_bias=True):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(latent_dim, 784) * 0.01)
        self.encoder_bias = nn.Parameter(torch.zeros(latent_dim))
        self.decoder_bias = nn.Parameter(torch.zeros(784))
        self.use_decoder_bias, self.use_encoder_bias = use_decoder_bias, use_encoder_bias

    def forward(self, x):
        z = x.flatten(1) @ self.weight.T + (self.encoder_bias if self.use_encoder_bias else 0)
        return (z @ self.weight + (self.decoder_bias if self.use_decoder_bias else 0)).view_as(x)


def test_tied_autoencoder():
    assert check.tied_autoencoder(Tied) is True
    assert check.tied_autoencoder(stub) is False
    with pytest.raises(CheckFailed, match="decoder bias is missing"):
        check.tied_autoencoder(lambda k: Tied(k, use_decoder_bias=False))
    with pytest.raises(CheckFailed, match="encoder bias is missing"):
        check.tied_autoencoder(lambda k: Tied(k, use_encoder_bias=False))

    class Untied(Tied):
        def __init__(self, latent_dim):
            super().__init__(latent_dim)
            self.decoder_weight = nn.Parameter(torch.zeros(784, latent_dim))
    with pytest.raises(CheckFailed, match="no weight matrix of its own"):
        check.tied_autoencoder(Untied)


def test_pixel_shuffle():
    def right(x, r):
        n, ch, h, w = x.shape
        return x.reshape(n, ch // (r * r), r, r, h, w).permute(0, 1, 4, 2, 5, 3).reshape(n, -1, h * r, w * r)

    def swapped(x, r):
        n, ch, h, w = x.shape
        return x.reshape(n, ch // (r * r), r, r, h, w).permute(0, 1, 4, 3, 5, 2).reshape(n, -1, h * r, w * r)

    assert check.pixel_shuffle(right) is True
    assert check.pixel_shuffle(stub) is False
    with pytest.raises(CheckFailed, match="sub-pixel axes i and j are swapped"):
        check.pixel_shuffle(swapped)
    with pytest.raises(CheckFailed, match="wrong places"):
        check.pixel_shuffle(lambda x, r: x.reshape(x.shape[0], -1, x.shape[2] * r, x.shape[3] * r))
    with pytest.raises(CheckFailed, match="shape"):
        check.pixel_shuffle(lambda x, r: x)


def test_checks_leave_the_learners_random_state_alone():
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    check.bce_per_image(bce_reference)
    check.decoder(good_decoder)
    check.tied_autoencoder(Tied)
    assert torch.equal(torch.rand(3), expected)


def test_reparameterize():
    assert check.reparameterize(lambda mu, lv: mu + torch.exp(0.5 * lv) * torch.randn_like(mu)) is True
    assert check.reparameterize(stub) is False
    wrong = [(lambda mu, lv: mu + torch.exp(lv) * torch.randn_like(mu), "variance"),
             (lambda mu, lv: mu + lv * torch.randn_like(mu), "logvar itself"),
             (lambda mu, lv: torch.normal(mu, torch.exp(0.5 * lv)), "no gradient reaches"),
             (lambda mu, lv: torch.distributions.Normal(mu, torch.exp(0.5 * lv)).sample(), "carries no gradient"),
             (lambda mu, lv: mu + torch.exp(0.5 * lv) * torch.randn(mu.shape[1]), "same noise"),
             (lambda mu, lv: mu + 0 * lv, "no randomness"),
             (lambda mu, lv: mu + torch.exp(0.5 * lv) * torch.rand_like(mu), "mean over rows")]
    for fn, message in wrong:
        with pytest.raises(CheckFailed, match=message):
            check.reparameterize(fn)


def test_gaussian_kl():
    assert check.gaussian_kl(lambda mu, lv: 0.5 * (mu ** 2 + lv.exp() - 1 - lv).sum(1)) is True
    assert check.gaussian_kl(stub) is False
    wrong = [(lambda mu, lv: 0.5 * (mu ** 2 + lv.exp() - 1 - lv).mean(1), "averaged over the latent"),
             (lambda mu, lv: -0.5 * (mu ** 2 + lv.exp() - 1 - lv).sum(1), "sign"),
             (lambda mu, lv: (mu ** 2 + lv.exp() - 1 - lv).sum(1), "factor 1/2"),
             (lambda mu, lv: 0.5 * (mu ** 2 + lv.exp() - 1 - lv).sum(), "one number"),
             (lambda mu, lv: 0.5 * (mu ** 2 + lv.exp() ** 2 - 1 - 2 * lv).sum(1), "log sigma"),
             (lambda mu, lv: 0.5 * (mu ** 2 + lv.exp() - 1 - lv).sum(1).detach(), "no gradient"),
             (lambda mu, lv: 0.5 * (mu ** 2 + lv.exp() - lv).sum(1), "expected")]
    for fn, message in wrong:
        with pytest.raises(CheckFailed, match=message):
            check.gaussian_kl(fn)


def _kl(mu, lv):
    return 0.5 * (mu ** 2 + lv.exp() - 1 - lv)


def test_free_bits_kl():
    assert check.free_bits_kl(lambda mu, lv, f: _kl(mu, lv).mean(0).clamp(min=f).sum()) is True
    assert check.free_bits_kl(losses.free_bits_kl) is True
    assert check.free_bits_kl(lambda mu, lv, f: torch.maximum(_kl(mu, lv).mean(0), torch.tensor(f)).sum()) is True
    assert check.free_bits_kl(stub) is False
    wrong = [(lambda mu, lv, f: _kl(mu, lv).clamp(min=f).sum(1).mean(), "each image"),
             (lambda mu, lv, f: _kl(mu, lv).mean(0).clamp(max=f).sum(), "swapped"),
             (lambda mu, lv, f: (_kl(mu, lv).mean(0) - f).clamp(min=0).sum(), "hinge"),
             (lambda mu, lv, f: _kl(mu, lv).sum(1).mean().clamp(min=f), "floor per latent dimension is missing"),
             (lambda mu, lv, f: _kl(mu, lv).sum(1).mean(), "floor per latent dimension is missing"),
             (lambda mu, lv, f: _kl(mu, lv).mean(0).clamp(min=f), r"got shape \(4,\).*sum them"),
             (lambda mu, lv, f: _kl(mu, lv).clamp(min=f).sum(1), r"got shape \(8,\).*average each dimension"),
             (lambda mu, lv, f: _kl(mu, lv).mean(0).clamp(min=f).sum().detach(), "no gradient"),
             (lambda mu, lv, f: (_kl(mu, lv).mean(0) + f).sum(), "expected"),
             (lambda mu, lv, f: _kl(mu, lv).detach().mean(0).clamp(min=f).sum() + 0 * mu.sum(), "must get the KL's"),
             (lambda mu, lv, f: _kl(mu, lv).mean(0).clamp(min=f).sum() + 1e-3 * mu[:, 3].sum(), "expected|no gradient"),
             ]
    for fn, message in wrong:
        with pytest.raises(check.CheckFailed, match=message):
            check.free_bits_kl(fn)


def _slerp(a, b, t):
    w = torch.acos(torch.nn.functional.cosine_similarity(a, b, dim=1).clamp(-1 + 1e-6, 1 - 1e-6)).unsqueeze(1)
    return (torch.sin((1 - t) * w) * a + torch.sin(t * w) * b) / torch.sin(w)


def test_slerp():
    assert check.slerp(_slerp) is True
    assert check.slerp(stub) is False
    wrong = [(lambda a, b, t: (1 - t) * a + t * b, "straight line"),
             (lambda a, b, t: ((1 - t) * a + t * b) / torch.sin(torch.acos(
                 torch.nn.functional.cosine_similarity(a, b, dim=1))).unsqueeze(1), "sin"),
             (lambda a, b, t: _slerp(a.flatten()[None], b.flatten()[None], t).view_as(a), "one angle"),
             (lambda a, b, t: _slerp(a, b, t)[:, :8], "shape"),
             (lambda a, b, t: _slerp(a, b, 1 - t), "expected|t = 0"),
             (lambda a, b, t: _slerp(a, b, t) * 1.01, "expected")]
    for fn, message in wrong:
        with pytest.raises(CheckFailed, match=message):
            check.slerp(fn)


def psnr_reference(x_hat, x):
    return 10 * torch.log10(1 / (x_hat - x).square().flatten(1).mean(dim=1))


def test_psnr():
    assert check.psnr(psnr_reference) is True
    assert check.psnr(stub) is False
    mse = lambda x_hat, x: (x_hat - x).square().flatten(1).mean(dim=1)
    for wrong, message in [
            (lambda x_hat, x: 10 * torch.log10(1 / (x_hat - x).square().mean()), "one number"),
            (lambda x_hat, x: 10 * torch.log10(255**2 / mse(x_hat, x)), "peak is 255"),
            (lambda x_hat, x: 20 * torch.log10(1 / mse(x_hat, x)), "mixed the two"),
            (lambda x_hat, x: 10 * torch.log(1 / mse(x_hat, x)), "natural log"),
            (lambda x_hat, x: 10 * torch.log10(1 / (x_hat - x).square().flatten(1).sum(dim=1)), "summed"),
            (lambda x_hat, x: 10 * torch.log10(1 / (x_hat - x).abs().flatten(1).mean(dim=1)), "expected"),
            (lambda x_hat, x: psnr_reference(x_hat, x)[:2], r"shape \(4,\)")]:
        with pytest.raises(CheckFailed, match=message):
            check.psnr(wrong)


def hole_psnr_reference(filled, clean, mask):
    return 10 * math.log10(1 / (((filled - clean).square() * mask).sum() / mask.sum()).item())


def test_hole_psnr():
    assert check.hole_psnr(hole_psnr_reference) is True
    assert check.hole_psnr(lambda f, c, m: torch.tensor(hole_psnr_reference(f, c, m))) is True   # a 0-d tensor
    assert check.hole_psnr(lambda f, c, m: np.float32(hole_psnr_reference(f, c, m))) is True     # a NumPy scalar
    assert check.hole_psnr(stub) is False
    db = lambda mse: 10 * torch.log10(1 / mse)
    for wrong, message in [
            (lambda f, c, m: db((f - c).square().mean()).item(), "over all pixels"),
            (lambda f, c, m: db(((f - c).square() * m).mean()).item(), "number of all pixels"),
            (lambda f, c, m: hole_psnr_reference(f, c, 1 - m), "known pixels"),
            (lambda f, c, m: db(((f - c).square() * m).flatten(1).sum(1) / m.flatten(1).sum(1)).mean().item(),
             "one PSNR per image"),
            (lambda f, c, m: db(((f - c).square() * m).sum() / len(f)).item(), "number of images"),
            (lambda f, c, m: db(((f - c).square() * m).sum()).item(), "summed"),
            (lambda f, c, m: hole_psnr_reference(f, c, m) + 20 * math.log10(255), "peak is 255"),
            (lambda f, c, m: hole_psnr_reference(f, c, m) + 0.5, "expected"),
            (lambda f, c, m: db(((f - c).square() * m).flatten(1).sum(1) / m.flatten(1).sum(1)), "one number"),
            (lambda f, c, m: "12 dB", "should return a number")]:
        with pytest.raises(CheckFailed, match=message):
            check.hole_psnr(wrong)


def auroc_reference(normal, anomalous):
    pairs = anomalous[:, None] - normal[None, :]
    return ((pairs > 0).double().mean() + (pairs == 0).double().mean() / 2).item()


def test_auroc():
    assert check.auroc(auroc_reference) is True
    assert check.auroc(stub) is False
    from sklearn.metrics import roc_auc_score   # the chapter uses scikit-learn's; both agree, ties included
    normal, anomalous = torch.tensor([0.1, 0.4, 0.4, 0.7]), torch.tensor([0.4, 0.9, 0.3])
    labels = [0] * 4 + [1] * 3
    assert auroc_reference(normal, anomalous) == pytest.approx(roc_auc_score(labels, torch.cat([normal, anomalous])))
    for wrong, message in [
            (lambda n, a: 1 - auroc_reference(n, a), "P\\(anomaly scores higher\\)"),
            (lambda n, a: (a[:, None] > n[None]).double().mean().item(), "counted it as 0"),
            (lambda n, a: (a[:, None] >= n[None]).double().mean().item(), "counted it as 1"),
            (lambda n, a: float(a.sum() > n.sum()), "all M x K pairs"),
            (lambda n, a: torch.stack([auroc_reference(n, a) * torch.ones(())] * 2), "one number"),
            (lambda n, a: "0.5", "should return a number"),
            (lambda n, a: auroc_reference(n[:3], a), "expected")]:
        with pytest.raises(check.CheckFailed, match=message):
            check.auroc(wrong)


def quantize_reference(z, low, high, bits):
    delta = (high - low) / (2**bits - 1)
    symbols = torch.round((z.clamp(low, high) - low) / delta).long()
    return symbols, low + symbols * delta


def _quantizer(gaps=lambda bits: 2**bits - 1, clip=True, rounding=torch.round, one_range=False, dequantize=None,
               dtype=torch.long):
    """A quantizer with one mistake switched on."""
    def fn(z, low, high, bits):
        lo, hi = (low.min(), high.max()) if one_range else (low, high)
        delta = (hi - lo) / gaps(bits)
        symbols = rounding(((z.clamp(lo, hi) if clip else z) - lo) / delta).to(dtype)
        z_hat = lo + symbols * delta if dequantize is None else dequantize(z, low, high, symbols, delta)
        return symbols, z_hat
    return fn


def _midrise(z, low, high, bits):
    """The standard midrise quantizer: floor into 2**bits cells, reconstruct at the cells' centres."""
    delta = (high - low) / 2**bits
    symbols = torch.floor((z.clamp(low, high) - low) / delta).clamp(max=2**bits - 1).long()
    return symbols, low + (symbols + 0.5) * delta


def _one_gap_too_many(z, low, high, bits):
    """delta = (high - low) / 2**bits, the top symbol clamped back into range."""
    delta = (high - low) / 2**bits
    symbols = torch.round((z.clamp(low, high) - low) / delta).clamp(max=2**bits - 1).long()
    return symbols, low + symbols * delta


def test_quantize():
    assert check.quantize(quantize_reference) is True
    assert check.quantize(stub) is False
    # one dimension at a time, clipping after rounding, floor(x + 0.5) and int32 symbols are right too
    def per_dimension(z, low, high, bits):
        pairs = [quantize_reference(z[:, j:j + 1], low[j:j + 1], high[j:j + 1], bits) for j in range(z.shape[1])]
        return torch.cat([s for s, _ in pairs], dim=1), torch.cat([z_hat for _, z_hat in pairs], dim=1)
    assert check.quantize(per_dimension) is True
    clip_late = lambda z, low, high, bits: _quantizer(clip=False)(z, low, high, bits)[0].clamp(0, 2**bits - 1)
    assert check.quantize(lambda z, low, high, bits: (clip_late(z, low, high, bits), low + clip_late(
        z, low, high, bits) * (high - low) / (2**bits - 1))) is True
    assert check.quantize(_quantizer(rounding=lambda x: torch.floor(x + 0.5), dtype=torch.int32)) is True
    for wrong, message in [
            (_quantizer(gaps=lambda bits: 2**bits), "7 gaps between them"),
            (_quantizer(gaps=lambda bits: 2**bits, clip=False), r"outside \{0, ..., 7\}: clip z"),
            (_one_gap_too_many, "2\\*\\*bits gaps, one too many"),
            (_midrise, "midrise quantizer"),
            (_quantizer(gaps=lambda bits: 2**bits - 2), "never used"),
            (_quantizer(clip=False), r"outside \{0, ..., 7\}: clip z"),
            (_quantizer(rounding=torch.floor), "rounded down"),
            (_quantizer(gaps=lambda bits: bits - 1), "not bits levels"),
            (_quantizer(one_range=True), "one range for all dimensions"),
            (_quantizer(dequantize=lambda z, low, high, s, delta: s * delta), "offset"),
            (_quantizer(dequantize=lambda z, low, high, s, delta: z.clamp(low, high)), "clipped z"),
            (_quantizer(dequantize=lambda z, low, high, s, delta: z), "z itself"),
            (_quantizer(dtype=torch.float32), "floats"),
            (_quantizer(dequantize=lambda z, low, high, s, delta: low + s * delta + 0.01), "expected"),
            (lambda z, low, high, bits: quantize_reference(z, low, high, bits)[0], "a pair"),
            (lambda z, low, high, bits: (*quantize_reference(z, low, high, bits), None), "length 3"),
            (lambda z, low, high, bits: (quantize_reference(z, low, high, bits)[0][:5],
                                         quantize_reference(z, low, high, bits)[1]), r"shape \(40, 3\), got \(5, 3\)"),
            (lambda z, low, high, bits: (quantize_reference(z, low, high, bits)[0].T,
                                         quantize_reference(z, low, high, bits)[1]), r"got \(3, 40\)"),
            (lambda z, low, high, bits: (quantize_reference(z, low, high, bits)[0],
                                         quantize_reference(z, low, high, bits)[1].numpy()), "torch.Tensor"),
            (lambda z, low, high, bits: quantize_reference(z, low, high, 3), "bits = 1"),
            (lambda z, low, high, bits: quantize_reference(z, low, high, bits) if bits == 3 else None,
             "bits = 1.*pair")]:
        with pytest.raises(CheckFailed, match=message):
            check.quantize(wrong)


def test_quantize_check_leaves_the_random_state_and_inputs_alone():
    torch.manual_seed(5)
    expected = torch.rand(3)
    torch.manual_seed(5)
    check.quantize(quantize_reference)
    assert torch.equal(torch.rand(3), expected)
    # a quantizer that clamps its input in place must not change what the check compares against
    def in_place(z, low, high, bits):
        z.clamp_(low, high)
        return quantize_reference(z, low, high, bits)
    assert check.quantize(in_place) is True


def discriminator_loss_reference(real_logits, fake_logits):
    F = torch.nn.functional
    return (F.binary_cross_entropy_with_logits(real_logits, torch.ones_like(real_logits))
            + F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits)))


def test_discriminator_loss():
    F = torch.nn.functional
    assert check.discriminator_loss(discriminator_loss_reference) is True
    assert check.discriminator_loss(stub) is False
    # other correct forms: logsigmoid by hand, softplus, and a (1,)-shaped result
    assert check.discriminator_loss(lambda r, f: -F.logsigmoid(r).mean() - F.logsigmoid(-f).mean()) is True
    assert check.discriminator_loss(lambda r, f: F.softplus(-r).mean() + F.softplus(f).mean()) is True
    assert check.discriminator_loss(lambda r, f: discriminator_loss_reference(r, f).view(1)) is True
    ones, zeros = torch.ones_like, torch.zeros_like
    with_logits = F.binary_cross_entropy_with_logits
    for wrong, message in [
            (lambda r, f: discriminator_loss_reference(f, r), "labels are swapped"),
            (lambda r, f: with_logits(r, zeros(r)) + with_logits(f, ones(f)), "labels are swapped"),
            (lambda r, f: discriminator_loss_reference(torch.sigmoid(r), torch.sigmoid(f)), "applied a sigmoid"),
            (lambda r, f: with_logits(r, ones(r)), "only the real term"),
            (lambda r, f: with_logits(f, zeros(f)), "only the fake term"),
            (lambda r, f: with_logits(r, ones(r), reduction="sum") + with_logits(f, zeros(f), reduction="sum"),
             "summed over the batch"),
            (lambda r, f: discriminator_loss_reference(r, f) / 2, "averaged the two halves"),
            (lambda r, f: with_logits(torch.cat([r, f]), torch.cat([ones(r), zeros(f)])), "weights each half"),
            (lambda r, f: 2 * with_logits(torch.cat([r, f]), torch.cat([ones(r), zeros(f)])), "weights each half"),
            (lambda r, f: -discriminator_loss_reference(r, f), "sign is flipped"),
            (lambda r, f: F.binary_cross_entropy(torch.sigmoid(r), ones(r))
             + F.binary_cross_entropy(torch.sigmoid(f), zeros(f)), "clips at 100"),
            (lambda r, f: -torch.log(torch.sigmoid(r)).mean() - torch.log(1 - torch.sigmoid(f)).mean(), "inf"),
            (lambda r, f: discriminator_loss_reference(r, f).item(), "Python number"),
            (lambda r, f: discriminator_loss_reference(r, f).detach(), "without a gradient"),
            (lambda r, f: torch.stack([discriminator_loss_reference(r, f)] * 2), "one number"),
            (lambda r, f: discriminator_loss_reference(r, f) + 0.1, "expected"),
            (lambda r, f: discriminator_loss_reference(r.detach(), f), "gradient with respect to real_logits"),
            (lambda r, f: discriminator_loss_reference(r, f.detach()), "gradient with respect to fake_logits")]:
        with pytest.raises(CheckFailed, match=message):
            check.discriminator_loss(wrong)


def knn_accuracy_reference(reference_codes, reference_labels, query_codes, query_labels, k):
    nearest = torch.cdist(query_codes, reference_codes).topk(k, dim=1, largest=False).indices
    votes = torch.nn.functional.one_hot(reference_labels[nearest], int(reference_labels.max()) + 1).sum(dim=1)
    return (votes.argmax(dim=1) == query_labels).float().mean().item()


def _knn_with(choose):
    """A k-NN accuracy whose prediction comes from choose(labels of all references sorted nearest first, k)."""
    def fn(reference_codes, reference_labels, query_codes, query_labels, k):
        order = torch.cdist(query_codes, reference_codes).argsort(dim=1)
        return (choose(reference_labels[order], k) == query_labels).float().mean().item()
    return fn


def _vote(sorted_labels):
    return torch.nn.functional.one_hot(sorted_labels, 10).sum(dim=1).argmax(dim=1)


def _vote_nearest_wins_ties(sorted_labels, k):
    counts = torch.nn.functional.one_hot(sorted_labels[:, :k], 10).sum(dim=1)            # (Q, 10)
    tied = counts == counts.max(dim=1, keepdim=True).values
    first = [next(label for label in row.tolist() if tied[i, label]) for i, row in enumerate(sorted_labels[:, :k])]
    return torch.tensor(first)


def _knn_manhattan(reference_codes, reference_labels, query_codes, query_labels, k):
    nearest = torch.cdist(query_codes, reference_codes, p=1).topk(k, dim=1, largest=False).indices
    return (_vote(reference_labels[nearest]) == query_labels).float().mean().item()


def test_knn_accuracy():
    assert check.knn_accuracy(knn_accuracy_reference) is True
    assert check.knn_accuracy(stub) is False
    # scikit-learn's classifier (uniform weights) votes the same way and gives ties to the smallest label too
    from sklearn.neighbors import KNeighborsClassifier
    generator = torch.Generator().manual_seed(0)
    reference, labels = torch.randn(200, 3, generator=generator), torch.randint(0, 5, (200,), generator=generator)
    queries, query_labels = torch.randn(100, 3, generator=generator), torch.randint(0, 5, (100,), generator=generator)
    for k in (1, 4, 7):
        ours = knn_accuracy_reference(reference, labels, queries, query_labels, k)
        theirs = KNeighborsClassifier(k).fit(reference.numpy(), labels.numpy()).score(queries.numpy(),
                                                                                   query_labels.numpy())
        assert ours == pytest.approx(theirs)
    count = lambda *args: round(knn_accuracy_reference(*args) * len(args[3]))   # noqa: E731
    for wrong, message in [
            (count, "number of correct queries"),
            (lambda *args: 100 * knn_accuracy_reference(*args), "percentage"),
            (_knn_with(lambda s, k: _vote(s[:, -k:])), "farthest"),
            (_knn_with(lambda s, k: s[:, 0]), "1-NN"),
            (_knn_with(lambda s, k: s[:, k - 1]), "k-th nearest"),
            (_knn_with(lambda s, k: _vote(s[:, :k - 1])), "k - 1 reference"),
            (_knn_with(lambda s, k: _vote(s[:, :k + 1])), "k \\+ 1 reference"),
            (_knn_with(lambda s, k: _vote(s[:, 1:k + 1])), "skipped the nearest neighbour"),
            (_knn_manhattan, "Manhattan \\(L1\\) distance instead of Euclidean"),
            (_knn_with(lambda s, k: _vote(s[:, :5])), "k = 3"),
            (_knn_with(_vote_nearest_wins_ties), "smallest of them"),
            (_knn_with(lambda s, k: 9 - _vote(9 - s[:, :k])), "smallest of them"),   # ties to the largest label
            (lambda *args: torch.tensor([knn_accuracy_reference(*args)] * 2), "one number"),
            (lambda *args: "0.9", "should return a number")]:
        with pytest.raises(CheckFailed, match=message):
            check.knn_accuracy(wrong)
    torch.manual_seed(5)
    expected = torch.rand(3)
    torch.manual_seed(5)
    check.knn_accuracy(knn_accuracy_reference)
    assert torch.equal(torch.rand(3), expected)


def kl_sparsity_reference(code, rho):
    rho_hat = code.mean(dim=0)
    return (rho * torch.log(rho / rho_hat) + (1 - rho) * torch.log((1 - rho) / (1 - rho_hat))).sum()


def _bernoulli_kl(p, q):
    return p * torch.log(p / q) + (1 - p) * torch.log((1 - p) / (1 - q))


def test_kl_sparsity():
    assert check.kl_sparsity(kl_sparsity_reference) is True
    assert check.kl_sparsity(stub) is False
    # the same KL through torch.distributions, and with rho as a tensor, are right too
    assert check.kl_sparsity(lambda code, rho: torch.distributions.kl_divergence(
        torch.distributions.Bernoulli(probs=torch.full_like(code[0], rho)),
        torch.distributions.Bernoulli(probs=code.mean(dim=0))).sum()) is True
    assert check.kl_sparsity(lambda code, rho: kl_sparsity_reference(code, torch.tensor(rho))) is True
    for wrong, message in [
            (lambda code, rho: _bernoulli_kl(code.mean(dim=0), rho).sum(), "arguments are swapped"),
            (lambda code, rho: _bernoulli_kl(rho, code.mean(dim=0)).mean(), "averaged over the units;"),
            (lambda code, rho: _bernoulli_kl(rho, code).sum(dim=1).mean(), "one KL per activation"),
            (lambda code, rho: _bernoulli_kl(rho, code).sum(), "one KL per activation"),
            (lambda code, rho: _bernoulli_kl(rho, code).mean(), "one KL per activation"),
            (lambda code, rho: _bernoulli_kl(rho, code.mean(dim=1)).sum(), r"averaged over the units \(dim=1\)"),
            (lambda code, rho: (rho * torch.log(rho / code.mean(dim=0))).sum(), r"\(1 - rho\) .* term is missing"),
            (lambda code, rho: ((1 - rho) * torch.log((1 - rho) / (1 - code.mean(dim=0)))).sum(),
             r"the rho log\(rho / rho_hat_j\) term is missing"),
            (lambda code, rho: _bernoulli_kl(rho, code.mean()), r"averaged over all entries, code.mean\(\)"),
            (lambda code, rho: _bernoulli_kl(rho, code.mean()).sum(), r"averaged over all entries, code.mean\(\)"),
            (lambda code, rho: code.shape[1] * _bernoulli_kl(rho, code.mean()), r"averaged over all entries"),
            (lambda code, rho: kl_sparsity_reference(code, rho).reshape(1), r"one number, a 0-d tensor, got shape \(1,\)"),
            (lambda code, rho: kl_sparsity_reference(code, rho) / math.log(2), "log2"),
            (lambda code, rho: -kl_sparsity_reference(code, rho), "sign is flipped"),
            (lambda code, rho: _bernoulli_kl(rho, code.mean(dim=0)), r"one number, a 0-d tensor, got shape \(5,\)"),
            (lambda code, rho: kl_sparsity_reference(code, rho).item(), "torch.Tensor"),
            (lambda code, rho: kl_sparsity_reference(code.detach(), rho), "no gradient"),
            (lambda code, rho: kl_sparsity_reference(code, rho) + 0.01, "expected"),
            (lambda code, rho: kl_sparsity_reference(code, rho) if len(code) == 8 else torch.tensor(1.0),
             "every activation 0.3")]:
        with pytest.raises(CheckFailed, match=message):
            check.kl_sparsity(wrong)


@pytest.mark.parametrize("name, reference", [("discriminator_loss", discriminator_loss_reference),
                                             ("knn_accuracy", knn_accuracy_reference),
                                             ("kl_sparsity", kl_sparsity_reference)])
def test_the_representation_checks_leave_the_random_state_alone(name, reference):
    torch.manual_seed(5)
    expected = torch.rand(3)
    torch.manual_seed(5)
    getattr(check, name)(reference)
    assert torch.equal(torch.rand(3), expected)


def generator_loss_reference(fake_logits):
    return torch.nn.functional.binary_cross_entropy_with_logits(fake_logits, torch.ones_like(fake_logits))


def test_generator_loss():
    F = torch.nn.functional
    assert check.generator_loss(generator_loss_reference) is True
    assert check.generator_loss(stub) is False
    # other correct forms: logsigmoid and softplus by hand, a (1,)-shaped result
    assert check.generator_loss(lambda f: -F.logsigmoid(f).mean()) is True
    assert check.generator_loss(lambda f: F.softplus(-f).mean()) is True
    assert check.generator_loss(lambda f: generator_loss_reference(f).view(1)) is True
    for wrong, message in [
            (lambda f: F.logsigmoid(-f).mean(), "minimax form"),                  # mean log(1 - sigmoid(f))
            (lambda f: -F.binary_cross_entropy_with_logits(f, torch.zeros_like(f)), "minimax form"),
            (lambda f: F.logsigmoid(-f).sum(), "minimax form.*summed"),
            (lambda f: F.binary_cross_entropy_with_logits(f, torch.zeros_like(f)), "labels are swapped"),
            (lambda f: F.logsigmoid(f).mean(), "sign is flipped"),
            (lambda f: generator_loss_reference(torch.sigmoid(f)), "applied a sigmoid"),
            (lambda f: F.binary_cross_entropy_with_logits(f, torch.ones_like(f), reduction="sum"), "summed"),
            (lambda f: F.binary_cross_entropy(torch.sigmoid(f), torch.ones_like(f)), "clips at 100"),
            (lambda f: -torch.log(torch.sigmoid(f)).mean(), "inf"),
            (lambda f: generator_loss_reference(f.detach()), "without a gradient"),
            (lambda f: generator_loss_reference(f).item(), "Python number"),
            (lambda f: torch.stack([generator_loss_reference(f)] * 2), "one number"),
            (lambda f: generator_loss_reference(f) + 0.1, "expected"),
            (lambda f: generator_loss_reference(f) + 0 * f.detach().sum() + (f - f.detach()).sum() * 0.1,
             "gradient with respect to fake_logits")]:
        with pytest.raises(CheckFailed, match=message):
            check.generator_loss(wrong)


def coupling_inverse_reference(z, conditioner, split):
    s, t = conditioner(z[:, :split])
    return torch.cat([z[:, :split], (z[:, split:] - t) * torch.exp(-s)], dim=1), -s.sum(dim=1)


def _coupling_with(u2_of, log_det_of, first_of=lambda z1, s, t: z1):
    """A coupling inverse built from pieces: u2_of(z2, s, t), log_det_of(s), first_of(z1, s, t)."""
    def fn(z, conditioner, split):
        s, t = conditioner(z[:, :split])
        return torch.cat([first_of(z[:, :split], s, t), u2_of(z[:, split:], s, t)], dim=1), log_det_of(s)
    return fn


def test_coupling_inverse():
    assert check.coupling_inverse(coupling_inverse_reference) is True
    assert check.coupling_inverse(stub) is False
    # a loop over the samples, or a division by exp(s), is right too
    assert check.coupling_inverse(_coupling_with(lambda z2, s, t: (z2 - t) / torch.exp(s),
                                                 lambda s: torch.stack([-row.sum() for row in s]))) is True
    right_u2, right_log_det = (lambda z2, s, t: (z2 - t) * torch.exp(-s)), (lambda s: -s.sum(dim=1))
    for wrong, message in [
            (_coupling_with(right_u2, lambda s: s.sum(dim=1)), "wrong sign"),
            (_coupling_with(right_u2, lambda s: -torch.exp(s).sum(dim=1)), "you summed exp"),
            (_coupling_with(lambda z2, s, t: (z2 - t) / s, right_log_det), "you divided by s"),
            (_coupling_with(lambda z2, s, t: (z2 - t) * torch.exp(s), right_log_det), "multiplied by exp"),
            (_coupling_with(lambda z2, s, t: z2 * torch.exp(-s) - t, right_log_det), "subtracts t first"),
            (_coupling_with(lambda z2, s, t: z2 * torch.exp(-s), right_log_det), "shift t is not undone"),
            (_coupling_with(right_u2, right_log_det, lambda z1, s, t: z1 * 2 + 1), "passes through the layer"),
            (lambda z, c, split: (coupling_inverse_reference(z, c, split)[0], c(z[:, :split])[0].sum().mul(-1)),
             "one number for the whole batch"),
            (_coupling_with(right_u2, lambda s: -s.sum().expand(len(s))), "batch's total"),
            (_coupling_with(right_u2, lambda s: -s.sum(dim=0)), "summed over the batch"),
            (_coupling_with(right_u2, lambda s: -torch.exp(s).prod(dim=1)), "layer's own determinant"),
            (_coupling_with(right_u2, lambda s: -s.mean(dim=1)), "averaged the log-scales"),
            (_coupling_with(right_u2, lambda s: -s), "one entry per transformed dimension"),
            (lambda z, c, split: coupling_inverse_reference(z, lambda a: c(z[:, split:]), split),
             "conditioning half"),
            (lambda z, c, split: coupling_inverse_reference(z, c, split)[0], "pair"),
            (_coupling_with(right_u2, lambda s: -s.sum(dim=1) + 0.01), "expected")]:
        with pytest.raises(CheckFailed, match=message):
            check.coupling_inverse(wrong)


def cvae_decoder_input_reference(z, labels):
    return torch.cat([z, torch.nn.functional.one_hot(labels, 10).float()], dim=1)


def test_cvae_decoder_input():
    assert check.cvae_decoder_input(cvae_decoder_input_reference) is True
    assert check.cvae_decoder_input(stub) is False
    one_hot = torch.nn.functional.one_hot
    for wrong, message in [
            (lambda z, labels: z, "labels are missing"),
            (lambda z, labels: one_hot(labels, 10).float(), "z is missing"),
            (lambda z, labels: torch.cat([z, labels[:, None].float()], dim=1), "one number"),
            (lambda z, labels: torch.cat([z, one_hot(labels).float()], dim=1), "num_classes=10"),
            (lambda z, labels: torch.cat([z, one_hot(labels, 10).float()], dim=0), "dim=1"),
            (lambda z, labels: torch.cat([one_hot(labels, 10).float(), z], dim=1), "comes first"),
            (lambda z, labels: torch.cat([z.detach(), one_hot(labels, 10).float()], dim=1), "no gradient"),
            (lambda z, labels: torch.cat([z.round().long(), one_hot(labels, 10)], dim=1),
             "z was turned into integers"),
            (lambda z, labels: torch.cat([z, 2 * one_hot(labels, 10).float()], dim=1), "expected")]:
        with pytest.raises(CheckFailed, match=message):
            check.cvae_decoder_input(wrong)


def vector_quantize_reference(z_e, codebook, beta):
    k = torch.cdist(z_e, codebook).argmin(dim=1)
    e_k = codebook[k]
    z_q = z_e + (e_k - z_e).detach()
    loss = ((z_e.detach() - e_k).square().sum(1) + beta * (z_e - e_k.detach()).square().sum(1)).mean()
    return z_q, k, loss


def _vector_quantize_variant(*, pick=lambda d: d.argmin(dim=1), straight_through="right", codebook_weight=None,
                             detach="right", reduce=torch.mean, commitment_weight=None, per_coordinate=False):
    def fn(z_e, codebook, beta):
        k = pick(torch.cdist(z_e, codebook))
        e_k = codebook[k]
        z_q = {"right": z_e + (e_k - z_e).detach(), "none": e_k,
               "wrong": e_k + (z_e - e_k).detach()}[straight_through]
        weight = beta if commitment_weight is None else commitment_weight
        if detach == "right":
            terms = (z_e.detach() - e_k).square().sum(1) + weight * (z_e - e_k.detach()).square().sum(1)
        elif detach == "codebook e_k":
            terms = (z_e.detach() - e_k.detach()).square().sum(1) + beta * (z_e - e_k.detach()).square().sum(1)
        elif detach == "swapped":
            terms = (z_e - e_k.detach()).square().sum(1) + beta * (z_e.detach() - e_k).square().sum(1)
        else:
            terms = (1 + beta) * (z_e - e_k).square().sum(1)
        if per_coordinate:
            terms = terms / z_e.shape[1]
        return z_q, k, reduce(terms)
    return fn


def test_vector_quantize():
    assert check.vector_quantize(vector_quantize_reference) is True
    assert check.vector_quantize(stub) is False
    for wrong, message in [
            (_vector_quantize_variant(pick=lambda d: d.argmax(dim=1)), "not the argmax"),
            (_vector_quantize_variant(pick=lambda d: d.argmin(dim=0)), "wrong axis"),
            (_vector_quantize_variant(straight_through="none"), "no gradient reaches z_e"),
            (_vector_quantize_variant(straight_through="wrong"), "wrong side"),
            (_vector_quantize_variant(detach="swapped"), "swapped"),
            (_vector_quantize_variant(detach="none"), "no stop-gradient"),
            (_vector_quantize_variant(reduce=torch.sum), "summed over the vectors"),
            (_vector_quantize_variant(per_coordinate=True), "averaged over the D coordinates too"),
            (_vector_quantize_variant(commitment_weight=0.0), "beta is missing"),
            (_vector_quantize_variant(commitment_weight=1.0), "both terms have weight 1"),
            (_vector_quantize_variant(detach="codebook e_k"), "the codebook term must not detach e_k"),
            (lambda z_e, codebook, beta: vector_quantize_reference(z_e, codebook, beta)[:2], "three things")]:
        with pytest.raises(CheckFailed, match=message):
            check.vector_quantize(wrong)


@pytest.mark.parametrize("name", ["generator_loss", "coupling_inverse", "cvae_decoder_input", "vector_quantize"])
def test_the_generation_checks_leave_the_random_state_alone(name):
    torch.manual_seed(5)
    expected = torch.rand(3)
    torch.manual_seed(5)
    getattr(check, name)(globals()[f"{name}_reference"])
    assert torch.equal(torch.rand(3), expected)
