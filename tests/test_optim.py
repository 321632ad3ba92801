"""asyncrl.optim's explicit-gradient RMSprop and Adam against torch.optim, and its TF-style RMSprop
against a slow element-by-element implementation of the formula, step by step.

Both sides start from identical copies of a small module's parameters and receive identical
random gradients; the shared-memory layout, the step counter, state_dict round trips through
``torch.save`` / ``torch.load(weights_only=True)`` and the error paths are checked too.
"""

import copy

import pytest
import torch
from torch import nn

from asyncrl.optim import Adam, RMSprop, RMSpropTF, make_optimizer

TIGHT = dict(rtol=1e-6, atol=1e-7)
N_STEPS = 12


def _module():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(5, 7), nn.Tanh(), nn.Linear(7, 3))


def _grads(params, n, seed):
    g = torch.Generator().manual_seed(seed)
    # Varying scales per step so the running statistics actually matter.
    return [[torch.randn(p.shape, generator=g) * (0.1 + 2.0 * (i % 3)) for p in params] for i in range(n)]


class SlowRMSpropTF:
    """The reference for ``rmsprop-tf``, element by element in float64 with torch.optim's interface
    (``param.grad``, ``step()``, ``state``, ``param_groups``): TensorFlow's RMSProp, the A3C paper's
    ``theta -= lr * g / sqrt(v + eps)`` and Stable-Baselines3's ``RMSpropTFLike`` without momentum:
    ``v`` starts at 1, ``v = alpha * v + (1 - alpha) * g^2``, ``p -= lr * g / sqrt(v + eps)``."""

    def __init__(self, params, lr, alpha, eps):
        self.params, self.alpha, self.eps = list(params), alpha, eps
        self.param_groups = [{"lr": lr}]
        self._v = [[1.0] * p.numel() for p in self.params]
        self.state = {}

    @torch.no_grad()
    def step(self):
        lr = self.param_groups[0]["lr"]
        for p, v in zip(self.params, self._v):
            flat, g = p.detach().double().flatten().tolist(), p.grad.double().flatten().tolist()
            for k in range(len(flat)):
                v[k] = self.alpha * v[k] + (1.0 - self.alpha) * g[k] * g[k]
                flat[k] -= lr * g[k] / (v[k] + self.eps) ** 0.5
            p.copy_(torch.tensor(flat, dtype=torch.float64).reshape(p.shape))
            self.state[p] = {"square_avg": torch.tensor(v, dtype=torch.float32).reshape(p.shape)}


def _pair(kind, shared, **hp):
    """(ours, our params, torch optimizer, torch params) over identical parameter copies."""
    ref_mod = _module()
    our_mod = copy.deepcopy(ref_mod)
    ours_p, ref_p = list(our_mod.parameters()), list(ref_mod.parameters())
    if kind == "rmsprop":
        ours = RMSprop(ours_p, hp["lr"], alpha=hp["alpha"], eps=hp["eps"], shared=shared)
        ref = torch.optim.RMSprop(ref_p, lr=hp["lr"], alpha=hp["alpha"], eps=hp["eps"], momentum=0, centered=False)
    elif kind == "rmsprop-tf":
        ours = RMSpropTF(ours_p, hp["lr"], alpha=hp["alpha"], eps=hp["eps"], shared=shared)
        ref = SlowRMSpropTF(ref_p, lr=hp["lr"], alpha=hp["alpha"], eps=hp["eps"])
    else:
        ours = Adam(ours_p, hp["lr"], betas=hp["betas"], eps=hp["eps"], shared=shared)
        ref = torch.optim.Adam(ref_p, lr=hp["lr"], betas=hp["betas"], eps=hp["eps"])
    return ours, ours_p, ref, ref_p


HP = {
    "rmsprop": dict(lr=7e-3, alpha=0.99, eps=1e-5),
    # A large eps and a fast average, so that eps inside vs outside the root and the statistics'
    # start (1, not 0) both change the steps far beyond the comparison's tolerance.
    "rmsprop-tf": dict(lr=7e-3, alpha=0.9, eps=0.05),
    "adam": dict(lr=3e-3, betas=(0.9, 0.999), eps=1e-8),
}


def _ref_step(ref, ref_p, grads, lr=None):
    for p, g in zip(ref_p, grads):
        p.grad = g.clone()
    if lr is not None:
        for group in ref.param_groups:
            group["lr"] = lr
    ref.step()


KINDS = ["rmsprop", "rmsprop-tf", "adam"]
CLASSES = {"rmsprop": RMSprop, "rmsprop-tf": RMSpropTF, "adam": Adam}


@pytest.mark.parametrize("shared", [True, False])
@pytest.mark.parametrize("kind", KINDS)
def test_matches_torch_step_by_step(kind, shared):
    """rmsprop and adam against torch.optim; rmsprop-tf against :class:`SlowRMSpropTF`."""
    ours, ours_p, ref, ref_p = _pair(kind, shared, **HP[kind])
    start = [p.detach().clone() for p in ours_p]
    for grads in _grads(ours_p, N_STEPS, seed=1):
        ours.step(ours_p, grads)
        _ref_step(ref, ref_p, grads)
        for a, b in zip(ours_p, ref_p):
            torch.testing.assert_close(a, b, **TIGHT)
    # The parameters did move (the comparison is not between two untouched copies).
    assert all((p - s).abs().max() > 1e-3 for p, s in zip(ours_p, start))
    # Running statistics agree with torch's too.
    for i, p in enumerate(ref_p):
        st = ref.state[p]
        if kind.startswith("rmsprop"):
            torch.testing.assert_close(ours.state["square_avg"][i], st["square_avg"], **TIGHT)
        else:
            torch.testing.assert_close(ours.state["exp_avg"][i], st["exp_avg"], **TIGHT)
            torch.testing.assert_close(ours.state["exp_avg_sq"][i], st["exp_avg_sq"], **TIGHT)


@pytest.mark.parametrize("kind", KINDS)
def test_lr_argument_overrides_per_step(kind):
    """``step(params, grads, lr)`` uses that step's learning rate (as a decaying schedule does)."""
    ours, ours_p, ref, ref_p = _pair(kind, True, **HP[kind])
    for i, grads in enumerate(_grads(ours_p, 10, seed=2)):
        lr = HP[kind]["lr"] * (1.0 - i / 10)
        ours.step(ours_p, grads, lr)
        _ref_step(ref, ref_p, grads, lr)
        for a, b in zip(ours_p, ref_p):
            torch.testing.assert_close(a, b, **TIGHT)
    assert ours.lr == HP[kind]["lr"]  # the default is left alone


@pytest.mark.parametrize("shared", [True, False])
@pytest.mark.parametrize("kind", KINDS)
def test_state_in_shared_memory_and_step_count(kind, shared):
    ours, ours_p, _, _ = _pair(kind, shared, **HP[kind])
    tensors = [t for ts in ours.state.values() for t in ts]
    assert len(tensors) == len(ours.slots) * len(ours_p)
    for t in [*tensors, ours.step_count]:
        assert t.is_shared() == shared
    for t, p in zip(ours.state[ours.slots[0]], ours_p):
        assert t.shape == p.shape
    assert float(ours.step_count) == 0
    for n, grads in enumerate(_grads(ours_p, 5, seed=3), start=1):
        ours.step(ours_p, grads)
        assert float(ours.step_count) == n
    # Updating in place keeps the same (shared) storage.
    for t in [*tensors, ours.step_count]:
        assert t.is_shared() == shared


def test_none_gradients_are_skipped():
    ours, ours_p, _, _ = _pair("rmsprop", True, **HP["rmsprop"])
    before = [p.detach().clone() for p in ours_p]
    grads = _grads(ours_p, 1, seed=4)[0]
    grads[1] = None
    ours.step(ours_p, grads)
    torch.testing.assert_close(ours_p[1], before[1], rtol=0, atol=0)
    assert ours.state["square_avg"][1].abs().max() == 0
    assert (ours_p[0] - before[0]).abs().max() > 0


@pytest.mark.parametrize("shared", [True, False])
@pytest.mark.parametrize("kind", KINDS)
def test_state_dict_round_trip_continues_identically(kind, shared, tmp_path):
    ours, ours_p, ref, ref_p = _pair(kind, shared, **HP[kind])
    grads = _grads(ours_p, 10, seed=5)
    for g in grads[:5]:
        ours.step(ours_p, g)
        _ref_step(ref, ref_p, g)

    path = tmp_path / "opt.pt"
    torch.save(ours.state_dict(), path)
    loaded = torch.load(path, weights_only=True)
    assert loaded["kind"] == kind and float(loaded["step"]) == 5

    # A fresh optimizer over a fresh copy of the current parameters, restored from disk.
    resumed_p = [p.detach().clone() for p in ours_p]
    cls = CLASSES[kind]
    kw = {k: v for k, v in HP[kind].items() if k != "lr"}
    resumed = cls(resumed_p, HP[kind]["lr"], shared=shared, **kw)
    slot_ids = {k: [t.data_ptr() for t in v] for k, v in resumed.state.items()}
    resumed.load_state_dict(loaded)
    # Loaded in place: the same (shared) tensors hold the restored values.
    assert {k: [t.data_ptr() for t in v] for k, v in resumed.state.items()} == slot_ids
    assert all(t.is_shared() == shared for ts in resumed.state.values() for t in ts)
    assert float(resumed.step_count) == 5

    for g in grads[5:]:
        ours.step(ours_p, g)
        resumed.step(resumed_p, g)
        _ref_step(ref, ref_p, g)
        for a, b, c in zip(resumed_p, ours_p, ref_p):
            torch.testing.assert_close(a, b, rtol=0, atol=0)
            torch.testing.assert_close(a, c, **TIGHT)


def test_rmsprop_tf_differs_from_torch_rmsprop_and_starts_small():
    """Same hyperparameters, different rule: the first TF-style step is about ``lr * g`` (statistics
    at 1), torch's about ``lr * sign(g) / sqrt(1 - alpha)`` (statistics at 0)."""
    tf, tf_p, _, _ = _pair("rmsprop-tf", False, lr=1e-3, alpha=0.99, eps=1e-5)
    th, th_p, _, _ = _pair("rmsprop", False, lr=1e-3, alpha=0.99, eps=1e-5)
    assert all((t == 1).all() for t in tf.state["square_avg"]) and all((t == 0).all() for t in th.state["square_avg"])
    before = [p.detach().clone() for p in tf_p]
    grads = [torch.full_like(p, 0.01) for p in tf_p]
    tf.step(tf_p, grads)
    th.step(th_p, grads)
    for a, b, s in zip(tf_p, th_p, before):
        # (float32 parameters near 1: differences of steps this small are exact to about 1e-7)
        torch.testing.assert_close(
            s - a, torch.full_like(s, 1e-3 * 0.01 / (0.99 + 0.01 * 1e-4 + 1e-5) ** 0.5), rtol=0, atol=2e-7
        )
        torch.testing.assert_close(s - b, torch.full_like(s, 1e-3 / (0.1 + 1e-5 / 0.01)), rtol=0, atol=2e-7)


def test_state_dict_is_a_snapshot():
    ours, ours_p, _, _ = _pair("adam", True, **HP["adam"])
    ours.step(ours_p, _grads(ours_p, 1, seed=6)[0])
    sd = ours.state_dict()
    saved = sd["exp_avg"][0].clone()
    ours.step(ours_p, _grads(ours_p, 1, seed=7)[0])
    torch.testing.assert_close(sd["exp_avg"][0], saved, rtol=0, atol=0)
    assert float(sd["step"]) == 1


def test_wrong_kind_of_state_raises():
    rms, rms_p, _, _ = _pair("rmsprop", False, **HP["rmsprop"])
    adam = Adam([p.detach().clone() for p in rms_p], 1e-3, shared=False)
    with pytest.raises(ValueError):
        adam.load_state_dict(rms.state_dict())
    with pytest.raises(ValueError):
        rms.load_state_dict(adam.state_dict())
    with pytest.raises(ValueError):
        rms.load_state_dict({"square_avg": rms.state["square_avg"], "step": torch.zeros(())})
    tf = RMSpropTF([p.detach().clone() for p in rms_p], 1e-3, shared=False)
    with pytest.raises(ValueError):  # same slot name, different rule: not interchangeable
        tf.load_state_dict(rms.state_dict())


def test_make_optimizer():
    params = list(_module().parameters())
    rms = make_optimizer("rmsprop", params, 1e-3, shared=True, alpha=0.95)
    assert isinstance(rms, RMSprop) and rms.alpha == 0.95 and rms.eps == 1e-5
    assert rms.step_count.is_shared()
    adam = make_optimizer("adam", iter(params), 1e-3, shared=False, eps=1e-6)
    assert isinstance(adam, Adam) and adam.eps == 1e-6 and not adam.step_count.is_shared()
    tf = make_optimizer("rmsprop-tf", params, 1e-3, shared=True, eps=1e-6, alpha=0.9)
    assert isinstance(tf, RMSpropTF) and (tf.alpha, tf.eps) == (0.9, 1e-6)
    assert tf.step_count.is_shared() and all(t.is_shared() for t in tf.state["square_avg"])
    with pytest.raises(ValueError, match="sgd"):
        make_optimizer("sgd", params, 1e-3, shared=False)
    with pytest.raises(ValueError):
        make_optimizer("rmsprop", params, 0.0, shared=False)
