"""minidl.nn.utils.prune against torch.nn.utils.prune on the same weights; random methods by their properties;
compact() against the uncompacted model's outputs."""

from __future__ import annotations

import time

import numpy as np
import pytest

import minidl
import minidl.nn as nn
import minidl.nn.functional as F
from minidl.examples.mnist_cnn import build_model
from minidl.nn.utils import prune

torch = pytest.importorskip("torch")
tprune = pytest.importorskip("torch.nn.utils.prune")


def pair(make_ours, make_theirs):
    """The same layer in minidl and torch, with torch's weights copied into ours."""
    torch.manual_seed(0)
    theirs = make_theirs()
    ours = make_ours()
    ours.load_state_dict(theirs.state_dict())
    return ours, theirs


def conv_pair():
    return pair(lambda: nn.Conv2d(3, 8, 3), lambda: torch.nn.Conv2d(3, 8, 3))


def linear_pair():
    return pair(lambda: nn.Linear(6, 5), lambda: torch.nn.Linear(6, 5))


def a(t):
    return t.detach().numpy()


def same(ours, theirs, name="weight"):
    np.testing.assert_array_equal(a(getattr(ours, name + "_mask")), a(getattr(theirs, name + "_mask")))
    np.testing.assert_array_equal(a(getattr(ours, name)), a(getattr(theirs, name)))


@pytest.mark.parametrize("amount", [0.3, 7, 0.0, 1.0])
def test_l1_unstructured_equals_torch(amount):
    ours, theirs = conv_pair()
    prune.l1_unstructured(ours, "weight", amount=amount)
    tprune.l1_unstructured(theirs, "weight", amount=amount)
    same(ours, theirs)


@pytest.mark.parametrize("n, dim, amount", [(1, 0, 0.5), (2, 1, 1), (float("inf"), 0, 3), (2, -1, 0.34)])
def test_ln_structured_equals_torch(n, dim, amount):
    ours, theirs = conv_pair()
    prune.ln_structured(ours, "weight", amount=amount, n=n, dim=dim)
    tprune.ln_structured(theirs, "weight", amount=amount, n=n, dim=dim)
    same(ours, theirs)


def test_global_unstructured_equals_torch():
    (c, tc), (fc, tfc) = conv_pair(), linear_pair()
    prune.l1_unstructured(fc, "weight", amount=0.2)  # an earlier mask is respected, as in torch
    tprune.l1_unstructured(tfc, "weight", amount=0.2)
    prune.global_unstructured([(c, "weight"), (fc, "weight"), (fc, "bias")], prune.L1Unstructured, amount=0.6)
    tprune.global_unstructured([(tc, "weight"), (tfc, "weight"), (tfc, "bias")], tprune.L1Unstructured,
                               amount=0.6)
    same(c, tc)
    same(fc, tfc)
    same(fc, tfc, "bias")


def test_repeated_pruning_composes_masks_as_torch():
    ours, theirs = conv_pair()
    for mine, torchs in [(lambda m: prune.l1_unstructured(m, "weight", 0.3),
                          lambda m: tprune.l1_unstructured(m, "weight", 0.3)),
                         (lambda m: prune.ln_structured(m, "weight", 0.25, n=1, dim=0),
                          lambda m: tprune.ln_structured(m, "weight", 0.25, n=1, dim=0)),
                         (lambda m: prune.l1_unstructured(m, "weight", 10),
                          lambda m: tprune.l1_unstructured(m, "weight", 10)),
                         (lambda m: prune.ln_structured(m, "weight", 2, n=2, dim=0),
                          lambda m: tprune.ln_structured(m, "weight", 2, n=2, dim=0))]:
        mine(ours)
        torchs(theirs)
        same(ours, theirs)
    mask = (np.arange(8 * 3 * 9).reshape(8, 3, 3, 3) % 3 != 0).astype(np.float32)
    prune.custom_from_mask(ours, "weight", mask)
    tprune.custom_from_mask(theirs, "weight", torch.tensor(mask))
    same(ours, theirs)
    assert sum(isinstance(h, prune.BasePruningMethod) for h, _ in ours._forward_pre_hooks.values()) == 1


def test_state_dict_keys_remove_and_is_pruned_as_torch():
    ours, theirs = linear_pair()
    assert not prune.is_pruned(ours)
    prune.identity(ours, "bias")
    tprune.identity(theirs, "bias")
    prune.l1_unstructured(ours, "weight", 0.5)
    tprune.l1_unstructured(theirs, "weight", 0.5)
    assert list(ours.state_dict()) == list(theirs.state_dict()) == ["bias_orig", "weight_orig", "bias_mask",
                                                                    "weight_mask"]
    assert prune.is_pruned(nn.Sequential(ours)) and [n for n, _ in ours.named_parameters()] == ["bias_orig",
                                                                                                 "weight_orig"]
    prune.remove(ours, "weight")
    tprune.remove(theirs, "weight")
    assert list(ours.state_dict()) == list(theirs.state_dict())
    np.testing.assert_array_equal(ours.weight.detach().numpy(), theirs.weight.detach().numpy())
    assert isinstance(ours.weight, nn.Parameter)
    with pytest.raises(ValueError):
        prune.remove(ours, "weight")
    prune.remove(ours, "bias")
    assert not prune.is_pruned(ours) and not ours._has_hooks


def test_training_step_keeps_the_mask_and_masks_the_gradients_as_torch():
    ours, theirs = linear_pair()
    prune.l1_unstructured(ours, "weight", 0.5)
    tprune.l1_unstructured(theirs, "weight", 0.5)
    x = np.random.default_rng(0).normal(size=(4, 6)).astype(np.float32)
    opt, topt = minidl.optim.SGD(ours.parameters(), lr=0.1), torch.optim.SGD(theirs.parameters(), lr=0.1)
    for _ in range(2):
        opt.zero_grad()
        topt.zero_grad()
        (ours(minidl.tensor(x)) ** 2).sum().backward()
        (theirs(torch.tensor(x)) ** 2).sum().backward()
        np.testing.assert_allclose(a(ours.weight_orig.grad), a(theirs.weight_orig.grad), rtol=1e-5, atol=1e-6)
        assert (ours.weight_orig.grad.detach().numpy()[ours.weight_mask.detach().numpy() == 0] == 0).all()
        opt.step()
        topt.step()
    ours(minidl.tensor(x))  # the pre-hook recomputes weight from the updated weight_orig
    theirs(torch.tensor(x))
    np.testing.assert_allclose(ours.weight.detach().numpy(), theirs.weight.detach().numpy(), rtol=1e-5, atol=1e-6)
    assert (ours.weight.detach().numpy()[ours.weight_mask.detach().numpy() == 0] == 0).all()


def test_random_methods_by_their_properties():
    layer = nn.Conv2d(3, 8, 3)
    prune.random_unstructured(layer, "weight", amount=0.4, generator=minidl.Generator(0))
    mask = layer.weight_mask.detach().numpy()
    assert set(np.unique(mask)) <= {0.0, 1.0} and (mask == 0).sum() == round(0.4 * mask.size)
    prune.random_unstructured(layer, "weight", amount=0.5, generator=minidl.Generator(1))  # half of the rest
    alive = round(0.6 * mask.size)
    assert (layer.weight_mask.detach().numpy() == 0).sum() == mask.size - (alive - round(0.5 * alive))
    assert (layer.weight_mask.detach().numpy() <= mask).all()  # pruned entries stay pruned

    layer = nn.Conv2d(3, 8, 3)
    prune.random_structured(layer, "weight", amount=3, dim=0, generator=minidl.Generator(0))
    per_filter = layer.weight_mask.detach().numpy().reshape(8, -1)
    assert sorted(per_filter.sum(axis=1)) == [0] * 3 + [27] * 5  # whole filters, 3 of them
    again = nn.Conv2d(3, 8, 3)
    prune.random_structured(again, "weight", amount=3, dim=0, generator=minidl.Generator(0))
    np.testing.assert_array_equal(again.weight_mask.detach().numpy(), layer.weight_mask.detach().numpy())  # seeded


def test_amount_is_checked_as_torch():
    for bad, error in [(-1, ValueError), (1.5, ValueError), ("a", TypeError)]:
        with pytest.raises(error):
            prune.l1_unstructured(nn.Linear(2, 2), "weight", bad)
    with pytest.raises(ValueError):
        prune.l1_unstructured(nn.Linear(2, 2), "weight", 5)  # more than 4 entries


def _mnist_batch(n):
    return minidl.tensor(np.random.default_rng(0).random((n, 1, 28, 28), dtype=np.float32))


def test_compact_gives_the_same_outputs_and_measures_the_speed_up():
    minidl.manual_seed(0)
    model = build_model()
    conv, fc = model[0], model[4]
    prune.ln_structured(conv, "weight", amount=0.5, n=1, dim=0)
    prune.remove(conv, "weight")
    small_conv, small_fc = prune.compact(conv, fc, activation=F.relu)
    small = nn.Sequential(small_conv, nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), small_fc, nn.ReLU(), model[6])
    assert small_conv.out_channels == 16 and small_fc.in_features == 16 * 13 * 13
    x = _mnist_batch(1000)
    with minidl.no_grad():
        np.testing.assert_allclose(small(x).detach().numpy(), model(x).detach().numpy(), rtol=1e-4, atol=1e-5)
        times = {}
        for label, m in [("32 filters", model), ("16 filters", small)]:
            runs = []
            for _ in range(5):
                t0 = time.perf_counter()
                m(x)
                runs.append(time.perf_counter() - t0)
            times[label] = float(np.median(runs))
    print("MNIST CNN inference, batch 1000, median of 5: "
          + ", ".join(f"{k} {v * 1e3:.1f} ms" for k, v in times.items())
          + f" ({times['32 filters'] / times['16 filters']:.2f}x)")


def test_compact_folds_the_bias_of_removed_filters_and_handles_conv_to_conv():
    minidl.manual_seed(1)
    model = nn.Sequential(nn.Conv2d(2, 6, 3), nn.ReLU(), nn.Conv2d(6, 4, 3))
    prune.ln_structured(model[0], "weight", amount=2, n=2, dim=0)  # the bias of those filters stays
    small_a, small_b = prune.compact(model[0], model[2], activation=F.relu)
    small = nn.Sequential(small_a, nn.ReLU(), small_b)
    x = minidl.randn(3, 2, 9, 9)
    np.testing.assert_allclose(small(x).detach().numpy(), model(x).detach().numpy(), rtol=1e-4, atol=1e-5)
    assert small_a.out_channels == 4 and small_b.in_channels == 4
    padded = nn.Conv2d(6, 4, 3, padding=1)
    with pytest.raises(ValueError):
        prune.compact(model[0], padded, activation=F.relu)
