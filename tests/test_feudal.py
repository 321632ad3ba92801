"""FeUdal Networks: the dilated LSTM, the intrinsic reward, the transition policy gradient, the
gradient separation between Worker and Manager, episode resets, and the runs end to end."""

from __future__ import annotations

import csv
import json
import math
import os

import numpy as np
import pytest
import torch

from asyncrl.algos.feudal import FeudalConfig, feudal_loss
from asyncrl.core.sections import LossConfig
from asyncrl.losses.feudal import cosine, goal_diversity, intrinsic_reward, manager_displacement, transition_policy_loss
from asyncrl.nn.build import make_model
from asyncrl.nn.dilated_lstm import DilatedLSTM
from asyncrl.nn.feudal import FeudalNet
from asyncrl.nn.spec import ModelSpec

from conftest import FAST, one_line_error, run_cli


def _spec(**kw) -> ModelSpec:
    base = dict(
        obs_shape=[4],
        action_kind="discrete",
        action_dim=3,
        hidden=[8],
        kind="feudal",
        feudal_dim=6,
        goal_dim=2,
        dilation=3,
        horizon=2,
    )
    return ModelSpec(**{**base, **kw})


# ---- dilated LSTM --------------------------------------------------------------------------


def test_dilated_lstm_updates_one_core_per_step_and_pools_the_cores():
    torch.manual_seed(0)
    r, H = 4, 5
    m = DilatedLSTM(3, H, r)
    h, c = torch.randn(2, r, H), torch.randn(2, r, H)
    x = torch.randn(2, 3)
    tick = torch.tensor([6.0, 1.0])  # cores 2 and 1
    pooled, h2, c2 = m.step(x, h, c, tick)
    for b, core in enumerate((2, 1)):
        want_h, want_c = m.cell(x[b : b + 1], (h[b : b + 1, core], c[b : b + 1, core]))
        torch.testing.assert_close(h2[b, core], want_h[0])
        torch.testing.assert_close(c2[b, core], want_c[0])
        others = [i for i in range(r) if i != core]
        assert torch.equal(h2[b, others], h[b, others]) and torch.equal(c2[b, others], c[b, others])
    torch.testing.assert_close(pooled, h2.sum(1))


def test_dilated_lstm_output_spans_the_last_r_steps():
    """After r steps from a zero state every core has run once; the pooled output is the sum of
    the last r step outputs, and step r + 1 replaces the oldest one."""
    torch.manual_seed(1)
    r = 3
    m = DilatedLSTM(2, 4, r)
    h, c = m.initial_state(1)
    outs = []
    for t in range(r + 1):
        x = torch.randn(1, 2)
        prev = h[0, t % r].clone()
        pooled, h, c = m.step(x, h, c, torch.tensor([float(t)]))
        outs.append(h[0, t % r].clone())
        assert not torch.equal(h[0, t % r], prev)
    torch.testing.assert_close(pooled[0], outs[1] + outs[2] + outs[3])


@pytest.mark.parametrize("T, r", [(12, 3), (40, 10), (7, 10), (1, 4), (6, 1)])
def test_dilated_lstm_in_rounds_equals_step_by_step(T, r):
    """``sequence`` (the cell run on every core's next input at once) against ``step`` in a loop, from a state in
    the middle of an episode, with episodes starting at random steps (their state and tick from zero)."""
    torch.manual_seed(T + r)
    B, H = 4, 5
    m = DilatedLSTM(3, H, r)
    x, h, c = torch.randn(T, B, 3), torch.randn(B, r, H), torch.randn(B, r, H)
    tick = torch.randint(0, 25, (B,)).float()
    first = torch.rand(T, B) < 0.15
    hh, cc, tt, pooled = h, c, tick, []
    for t in range(T):
        keep = (~first[t]).float()
        tt = tt * keep
        p, hh, cc = m.step(x[t], hh * keep.view(B, 1, 1), cc * keep.view(B, 1, 1), tt)
        pooled.append(p)
        tt = tt + 1
    got = m.sequence(x, h, c, tick, first)
    torch.testing.assert_close(got[0], torch.stack(pooled))
    torch.testing.assert_close(got[1], hh)
    torch.testing.assert_close(got[2], cc)
    assert torch.equal(got[3], tt)


# ---- pure losses -----------------------------------------------------------------------------


def test_intrinsic_reward_by_hand():
    s_t = torch.tensor([[1.0, 1.0]])
    s_hist = torch.tensor([[[1.0, 0.0], [0.0, 1.0]]])  # s_{t-2}, s_{t-1}
    g_hist = torch.tensor([[[0.0, 1.0], [1.0, 1.0]]])  # g_{t-2}, g_{t-1}
    # s_t - s_{t-2} = (0, 1): cos with (0, 1) = 1; s_t - s_{t-1} = (1, 0): cos with (1, 1) = 1/sqrt(2)
    r = intrinsic_reward(s_t, s_hist, g_hist, torch.ones(1, 2))
    torch.testing.assert_close(r, torch.tensor([(1.0 + 1 / math.sqrt(2)) / 2]))
    # a step from before the episode counts 0, still divided by c
    r = intrinsic_reward(s_t, s_hist, g_hist, torch.tensor([[0.0, 1.0]]))
    torch.testing.assert_close(r, torch.tensor([(1 / math.sqrt(2)) / 2]))


def test_cosine_is_zero_for_a_zero_vector():
    assert cosine(torch.zeros(3), torch.ones(3)).item() == 0.0
    torch.testing.assert_close(cosine(torch.tensor([3.0, 0.0]), torch.tensor([-1.0, 0.0])), torch.tensor(-1.0))


def _displacement_loop(s, first, c):
    T = s.shape[0] - 1
    delta, mask = torch.zeros(T, *s.shape[1:]), torch.zeros(T, s.shape[1], dtype=torch.bool)
    for b in range(s.shape[1]):
        for t in range(T):
            end = t
            for j in range(t + 1, min(t + c, T) + 1):
                if first[j, b]:
                    break
                end = j
            delta[t, b] = s[end, b] - s[t, b]
            mask[t, b] = end > t
    return delta, mask


@pytest.mark.parametrize("c", [1, 3, 10])
def test_manager_displacement_against_a_loop(c):
    g = torch.Generator().manual_seed(c)
    T, B = 12, 5
    s = torch.randn(T + 1, B, 4, generator=g)
    first = torch.rand(T + 1, B, generator=g) < 0.2
    delta, mask = manager_displacement(s, first, c)
    want_delta, want_mask = _displacement_loop(s, first, c)
    torch.testing.assert_close(delta, want_delta)
    assert torch.equal(mask, want_mask)


def test_transition_policy_loss_by_hand_and_its_gradient_reaches_only_the_goal():
    adv = torch.tensor([[2.0], [-1.0]])
    delta = torch.tensor([[[1.0, 0.0]], [[0.0, 2.0]]], requires_grad=True)
    goals = torch.tensor([[[1.0, 1.0]], [[0.0, 1.0]]], requires_grad=True)
    mask = torch.tensor([[True], [True]])
    loss = transition_policy_loss(adv, delta, goals, mask)
    # -(2 * cos45 + (-1) * 1) / 2
    torch.testing.assert_close(loss, torch.tensor(-(2 / math.sqrt(2) - 1.0) / 2))
    loss.backward()
    assert delta.grad is None
    # d/dg cos(d, g) at d = (1, 0), g = (1, 1): (d/|d||g| - cos * g/|g|^2) = (1/sqrt2 - 1/(2 sqrt2), -1/(2 sqrt2))
    want0 = -(2.0 / 2) * torch.tensor([1 / math.sqrt(2) - 1 / (2 * math.sqrt(2)), -1 / (2 * math.sqrt(2))])
    torch.testing.assert_close(goals.grad[0, 0], want0)
    masked = transition_policy_loss(adv, delta.detach(), goals.detach(), torch.tensor([[False], [True]]))
    torch.testing.assert_close(masked, torch.tensor(1.0 / 2))


def test_goal_diversity():
    same = torch.tensor([[1.0, 0.0], [2.0, 0.0]])
    assert goal_diversity(same).item() == pytest.approx(0.0, abs=1e-6)
    opposite = torch.tensor([[1.0, 0.0], [-1.0, 0.0]])
    assert goal_diversity(opposite).item() == pytest.approx(1.0)


# ---- the network -------------------------------------------------------------------------------


def _rollout(model, T=6, B=3, seed=0, first=None):
    from asyncrl.core.batch import Rollout

    g = torch.Generator().manual_seed(seed)
    if first is None:
        first = torch.zeros(T + 1, B, dtype=torch.bool)
        first[0] = True
    return Rollout(
        obs=torch.randn(T + 1, B, 4, generator=g),
        first=first,
        actions=torch.randint(0, 3, (T, B), generator=g),
        r_t=torch.randn(T, B, 2, generator=g),
        discount_t=torch.full((T, B, 2), 0.9),
        core_state=model.initial_state(B),
    )


def test_goals_are_unit_norm_and_the_policy_sums_to_one():
    torch.manual_seed(0)
    model = FeudalNet(_spec())
    r = _rollout(model)
    out = model.forward_full(r.obs, r.core_state, r.first)
    torch.testing.assert_close(out.goals.norm(dim=-1), torch.ones(7, 3))
    assert out.params.shape == (7, 3, 3) and out.value.shape == (7, 3, 2)
    assert not out.intrinsic.requires_grad


def _grads(model, loss):
    model.zero_grad()
    loss.backward(retain_graph=True)
    return {n: (p.grad.abs().sum().item() if p.grad is not None else 0.0) for n, p in model.named_parameters()}


def test_no_gradient_flows_from_the_worker_into_the_manager():
    """The Worker's policy loss (with advantages built on the intrinsic reward) leaves the Manager's
    goal-producing parameters untouched; the transition policy gradient reaches them."""
    torch.manual_seed(0)
    model = FeudalNet(_spec())
    r = _rollout(model, first=torch.zeros(7, 3, dtype=torch.bool))
    # warm state: histories of goals and states already filled, so the intrinsic reward is non-zero
    r.core_state = model.forward_full(
        torch.randn(5, 3, 4), model.initial_state(3), torch.zeros(5, 3, dtype=torch.bool)
    ).core_state
    r.core_state = tuple(x.detach() for x in r.core_state)
    out = model.forward_full(r.obs, r.core_state, r.first)
    assert out.intrinsic.abs().sum() > 0
    logp, _ = model.log_prob_entropy(out.params[:-1], r.actions)
    worker_pg = -(logp * (r.r_t[..., 1] + out.intrinsic[1:])).mean()
    g = _grads(model, worker_pg)
    manager_parts = [n for n in g if n.startswith(("manager.", "mspace.", "manager_value."))]
    assert manager_parts and all(g[n] == 0.0 for n in manager_parts), g
    assert g["phi.weight"] > 0 and g["worker.weight_ih"] > 0 and g["percept.0.weight"] > 0
    delta, mask = manager_displacement(out.s.detach(), r.first, 2)
    g = _grads(model, transition_policy_loss(torch.ones(6, 3), delta, out.goals[:-1], mask))
    assert g["manager.cell.weight_ih"] > 0 and g["mspace.0.weight"] > 0
    assert g["phi.weight"] == 0.0 and g["worker.weight_ih"] == 0.0


def test_feudal_loss_gradient_leaves_worker_out_of_the_goal(monkeypatch):
    """On the real ``feudal_loss`` path, the Worker's loss terms (policy gradient, entropy bonus,
    Worker critic) leave the gradient of every Manager parameter exactly zero; the Manager learns
    only from the transition policy gradient and its own critic."""
    import asyncrl.algos.feudal as feudal_algo

    worker_terms = []
    real = feudal_algo.actor_critic_loss

    def capture(*args, **kwargs):  # the Worker's actor-critic loss, as feudal_loss builds it
        out = real(*args, **kwargs)
        worker_terms.append(out.loss)
        return out

    monkeypatch.setattr(feudal_algo, "actor_critic_loss", capture)
    torch.manual_seed(0)
    model = FeudalNet(_spec())
    r = _rollout(model, first=torch.zeros(7, 3, dtype=torch.bool))
    # warm state: goal and state histories filled, so the goal pooling and intrinsic reward are live
    warm = model.forward_full(torch.randn(5, 3, 4), model.initial_state(3), torch.zeros(5, 3, dtype=torch.bool))
    r.core_state = tuple(x.detach() for x in warm.core_state)
    out = feudal_loss(
        model, r, LossConfig(value_coef=0.5, entropy_coef=0.1), FeudalConfig(intrinsic_coef=1.0, horizon=2)
    )
    assert math.isfinite(out.loss.item()) and out.stats["feudal/intrinsic_reward"] != 0.0
    assert len(worker_terms) == 1
    names = [n for n, _ in model.named_parameters()]
    params = list(model.parameters())
    manager = [i for i, n in enumerate(names) if n.startswith(("manager.", "mspace.", "manager_value."))]
    assert {names[i].split(".")[0] for i in manager} == {"manager", "mspace", "manager_value"}

    def grads(loss):
        gs = torch.autograd.grad(loss, params, retain_graph=True, allow_unused=True)
        return [torch.zeros_like(q) if g is None else g for q, g in zip(params, gs)]

    g_worker = grads(worker_terms[0])
    for i in manager:
        assert torch.count_nonzero(g_worker[i]) == 0, names[i]
    # the Worker's terms do train the Worker, and the whole loss does reach the Manager
    for n in ("phi.weight", "worker.weight_ih", "worker_value.weight", "percept.0.weight"):
        assert g_worker[names.index(n)].abs().sum() > 0, n
    g_all = grads(out.loss)
    for n in ("manager.cell.weight_ih", "mspace.0.weight", "manager_value.weight"):
        assert g_all[names.index(n)].abs().sum() > 0, n


def test_episode_start_resets_manager_and_worker():
    """From an episode's first observation on, outputs equal a fresh start's, whatever came before."""
    torch.manual_seed(0)
    model = FeudalNet(_spec())
    T, B = 8, 2
    obs = torch.randn(T, B, 4)
    first = torch.zeros(T, B, dtype=torch.bool)
    first[0] = True
    first[3, 0] = True  # env 0 starts a new episode at t = 3
    out = model.forward_full(obs, model.initial_state(B), first)
    fresh_first = torch.zeros(T - 3, 1, dtype=torch.bool)
    fresh_first[0] = True
    fresh = model.forward_full(obs[3:, :1], model.initial_state(1), fresh_first)
    torch.testing.assert_close(out.params[3:, :1], fresh.params)
    torch.testing.assert_close(out.value[3:, :1], fresh.value)
    torch.testing.assert_close(out.intrinsic[3:, :1], fresh.intrinsic)
    assert not torch.allclose(
        out.params[3:, 1:], model.forward_full(obs[3:, 1:], model.initial_state(1), fresh_first).params
    )


def test_rollouts_continue_the_state_exactly():
    """Two rollouts of T steps give the same outputs as one of 2T (state carried, incl. histories)."""
    torch.manual_seed(0)
    model = FeudalNet(_spec())
    obs = torch.randn(10, 2, 4)
    first = torch.zeros(10, 2, dtype=torch.bool)
    first[0] = True
    first[6, 1] = True
    whole = model.forward_full(obs, model.initial_state(2), first)
    a = model.forward_full(obs[:5], model.initial_state(2), first[:5])
    b = model.forward_full(obs[5:], a.core_state, first[5:])
    torch.testing.assert_close(torch.cat([a.params, b.params]), whole.params)
    torch.testing.assert_close(torch.cat([a.intrinsic, b.intrinsic]), whole.intrinsic)


def test_the_paper_s_goal_pooling_and_policy_by_hand():
    from asyncrl.nn.feudal import goal_sum, policy_logits, unit_goal

    torch.testing.assert_close(unit_goal(torch.tensor([[3.0, -4.0], [0.0, 0.0]])), torch.tensor([[0.6, -0.8], [0, 0]]))
    before = torch.tensor([[9.0, 9.0], [1.0, 0.0], [0.0, 2.0]])  # (c = 3: the oldest is 3 steps back, left out)
    assert goal_sum(torch.tensor([0.5, 0.5]), before).tolist() == [1.5, 2.5]
    u = torch.tensor([[1.0, 0.0], [0.0, 2.0], [1.0, 1.0]])  # (3 actions, k = 2)
    assert policy_logits(u, torch.tensor([3.0, -1.0])).tolist() == [3.0, -2.0, 2.0]


def test_goal_windows_by_hand():
    from asyncrl.nn.feudal import goal_windows, windows

    first = torch.tensor([[False], [True], [False]])  # an episode starts at step 1
    mask = goal_windows(first, torch.tensor([[0.0, 1.0]]), c=2)  # (of the 2 steps before, the older was not valid)
    assert mask[:, 0].tolist() == [[0, 1], [0, 0], [0, 1], [1, 1]]
    hist, steps = torch.tensor([[[-2.0], [-1.0]]]), torch.tensor([[[0.0]], [[1.0]], [[2.0]]])
    assert windows(hist, steps)[:, 0, :, 0].tolist() == [[-2, -1], [-1, 0], [0, 1], [1, 2]]


def test_one_step_at_a_time_equals_the_whole_rollout():
    """Acting's one-step calls (with episodes starting mid-way, longer than the horizon and shorter) give the
    vectorised rollout's goals, policy, values and intrinsic rewards; without intrinsic rewards, the same policy."""
    torch.manual_seed(0)
    model = FeudalNet(_spec(horizon=3))
    T, B = 12, 3
    obs = torch.randn(T, B, 4)
    first = torch.zeros(T, B, dtype=torch.bool)
    first[0] = first[2, 1] = first[4, 1] = first[9, 2] = True
    whole = model.forward_full(obs, model.initial_state(B), first)
    state, steps = model.initial_state(B), []
    for t in range(T):
        steps.append(model.forward_full(obs[t : t + 1], state, first[t : t + 1]))
        state = steps[-1].core_state
    for name in ("params", "value", "goals", "intrinsic"):
        torch.testing.assert_close(torch.cat([getattr(o, name) for o in steps]), getattr(whole, name))
    for a, b in zip(state, whole.core_state):
        torch.testing.assert_close(a, b)
    assert whole.intrinsic[1:].abs().sum() > 0
    quiet = model.forward_full(obs, model.initial_state(B), first, intrinsic=False)
    torch.testing.assert_close(quiet.params, whole.params)
    assert not quiet.intrinsic.any()


def test_collector_keeps_two_discounts_and_bootstraps_truncation_per_critic():
    """With CartPole cut at 5 and 7 steps, each truncated step gets, per critic ``k`` (Manager, Worker),
    ``r_t[t, b, k] = r + gamma_k * V_k(final_obs)`` and discount 0 on both; other steps keep ``r`` and
    their own ``gamma_k``. ``V_k`` is recomputed by re-running the model over the episode."""
    from asyncrl.runtime.rollout import RolloutCollector

    from test_rollout_truncation import episode_value, short_cartpoles

    gammas = (0.99, 0.5)
    T = 10
    rec = short_cartpoles([5, 7])
    torch.manual_seed(0)
    model = make_model(_spec(action_dim=2))
    try:
        ro = RolloutCollector(rec, model, T, gammas, seed=0).collect()
    finally:
        rec.close()
    assert ro.r_t.shape == (T, 2, 2) and ro.discount_t.shape == (T, 2, 2)
    assert len(ro.core_state) == 8 and ro.num_steps == 2 * T
    truncated = [(t, b) for t, s in enumerate(rec.steps) for b in range(2) if s.truncated[b]]
    assert truncated == [(4, 0), (6, 1), (9, 0)]
    assert not any(s.terminated.any() for s in rec.steps)
    gamma = torch.tensor(gammas)
    for t, s in enumerate(rec.steps):
        for b in range(2):
            r = float(s.reward[b])
            if (t, b) in truncated:
                v = episode_value(model, ro, rec, t, b)  # [2]: V^M, V^W
                assert v.shape == (2,) and (v[0] - v[1]).abs() > 1e-3  # the critics differ
                torch.testing.assert_close(ro.r_t[t, b], r + gamma * v, rtol=1e-5, atol=1e-5)
                assert torch.equal(ro.discount_t[t, b], torch.zeros(2))
            else:
                assert torch.equal(ro.r_t[t, b], torch.full((2,), r))
                torch.testing.assert_close(ro.discount_t[t, b], gamma)


# ---- end to end -------------------------------------------------------------------------------


def _rows(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


@pytest.mark.parametrize("runtime", ["hogwild", "sync"])
def test_cli_train_eval_resume(runtime, tmp_path):
    d = str(tmp_path / runtime)
    small = ["--feudal-dim", "32", "--hidden", "32", "--n-steps", "20", "--num-envs", "4"]
    p = run_cli(
        "train",
        "--algo",
        "feudal",
        "--runtime",
        runtime,
        "--env",
        "CartPole-v1",
        "--total-steps",
        "4000",
        "--eval-every",
        "2000",
        "--eval-episodes",
        "2",
        "--run-dir",
        d,
        *small,
        *FAST,
        *(["--workers", "2"] if runtime == "hogwild" else []),
        check=True,
    )
    assert "step budget reached" in p.stdout
    rows = _rows(os.path.join(d, "metrics.csv"))
    for k in (
        "feudal/intrinsic_reward",
        "feudal/goal_cos",
        "feudal/goal_diversity",
        "feudal/manager_value_loss",
        "feudal/worker_value_loss",
    ):
        vals = [float(r[k]) for r in rows if r[k] != ""]
        assert vals and all(math.isfinite(v) for v in vals), k
    diversity = [float(r["feudal/goal_diversity"]) for r in rows if r["feudal/goal_diversity"]]
    assert all(0.0 <= v <= 1.0 for v in diversity)
    ev = run_cli("eval", d, "--episodes", "3", "--json", check=True)
    assert json.loads(ev.stdout)["episodes"] == 3
    more = run_cli("train", "--resume", d, "--total-steps", "6000", *FAST, check=True)
    assert "step budget reached" in more.stdout
    assert int(_rows(os.path.join(d, "metrics.csv"))[-1]["env_steps"]) >= 6000


def test_cli_minigrid_runs(tmp_path):
    pytest.importorskip("minigrid", reason="the minigrid extra is not installed")
    d = str(tmp_path / "mg")
    run_cli(
        "train",
        "--algo",
        "feudal",
        "--runtime",
        "sync",
        "--env",
        "MiniGrid-Empty-5x5-v0",
        "--total-steps",
        "1500",
        "--eval-every",
        "0",
        "--feudal-dim",
        "32",
        "--run-dir",
        d,
        *FAST,
        check=True,
    )
    assert _rows(os.path.join(d, "episodes.csv"))


@pytest.mark.parametrize(
    "args, needle",
    [
        (["--env", "Pendulum-v1"], "needs a discrete action space"),
        (["--lstm"], "--lstm does not apply to --algo feudal"),
        (["--runtime", "threads"], "--runtime 'threads' is not supported"),
        (["--runtime", "sync", "--workers", "2"], "--workers does not apply to --algo feudal on --runtime sync"),
        (["--runtime", "sync", "--shared-optimizer"], "--shared-optimizer does not apply"),
        (["--horizon", "0"], "--horizon must be a positive integer"),
        (["--worker-gamma", "1.5"], "--worker-gamma must be in [0, 1]"),
        (["--horizon", "50", "--n-steps", "40"], "--horizon 50 is longer than --n-steps 40"),
    ],
)
def test_bad_feudal_input(args, needle, tmp_path, capsys):
    # (in one process: the check itself; the exit path is test_inputs.py's end to end)
    assert needle in one_line_error(
        capsys, ["train", "--algo", "feudal", "--run-dir", str(tmp_path / "x"), *args, *FAST]
    )


def test_feudal_flags_refused_for_other_algorithms(tmp_path, capsys):
    line = one_line_error(capsys, ["train", "--algo", "a2c", "--horizon", "5", "--run-dir", str(tmp_path / "x"), *FAST])
    assert "--horizon does not apply to --algo a2c" in line


def test_unknown_minigrid_id(tmp_path, capsys):
    pytest.importorskip("minigrid", reason="the minigrid extra is not installed")
    argv = ["train", "--algo", "feudal", "--env", "MiniGrid-DoorKey-9x9-v0", "--run-dir", str(tmp_path / "x"), *FAST]
    assert "not a registered MiniGrid environment" in one_line_error(capsys, argv)


def test_api_feudal_learns_and_predicts(tmp_path):
    import asyncrl

    agent = asyncrl.FeUdal(
        "CartPole-v1",
        runtime="sync",
        feudal_dim=32,
        hidden=[32],
        num_envs=4,
        n_steps=20,
        eval_every=0,
        run_dir=str(tmp_path / "api"),
        progress=False,
        tensorboard=False,
    )
    agent.learn(total_steps=2000)
    obs = np.zeros((2, 4), np.float32)
    actions, state = agent.predict(obs, deterministic=True)
    assert actions.shape == (2,) and set(actions.tolist()) <= {0, 1}
    again, _ = agent.predict(obs, state, deterministic=True)
    assert again.shape == (2,)


def test_other_algorithms_do_not_record_feudal_settings():
    from asyncrl.config import TrainConfig, flat_view, resolve

    a2c = flat_view(resolve(TrainConfig(algo="a2c"), "discrete"))  # config.json's keys
    assert a2c["runtime"] == "sync" and not {"worker_gamma", "horizon", "feudal_dim"} & set(a2c)
    feudal = resolve(TrainConfig(algo="feudal"), "discrete")
    f = feudal.algo_config
    assert (feudal.runtime.kind, f.worker_gamma, f.horizon, f.dilation) == ("hogwild", 0.95, 10, 10)
    assert flat_view(feudal)["worker_gamma"] == 0.95


# ---- the intrinsic reward's weight, and the paper's configuration kept ------------------------


@pytest.mark.parametrize(
    "alpha, goal_cos, gate, want",
    [
        (0.5, 0.0, 0.0, 0.5),  # gate 0: the paper's constant alpha, whatever the goals do
        (0.5, -0.3, 0.0, 0.5),
        (0.5, 0.0, 0.1, 0.0),  # goals that predict nothing: no intrinsic reward
        (0.5, -0.05, 0.1, 0.0),  # (nor a negative weight)
        (0.5, 0.05, 0.1, 0.25),  # in proportion below the gate
        (0.5, 0.1, 0.1, 0.5),
        (0.5, 0.3, 0.1, 0.5),  # full from the gate on
    ],
)
def test_intrinsic_weight_by_hand(alpha, goal_cos, gate, want):
    from asyncrl.losses.feudal import intrinsic_weight

    assert intrinsic_weight(alpha, goal_cos, gate) == pytest.approx(want)


def _fixed_loss(**feudal):
    """``feudal_loss`` on a fixed rollout (a warm state, episodes starting mid-rollout), its gradients taken."""
    from asyncrl.core.batch import Rollout

    torch.manual_seed(0)
    model = FeudalNet(_spec())
    g = torch.Generator().manual_seed(1)
    T, B = 9, 3
    first = torch.zeros(T + 1, B, dtype=torch.bool)
    first[4, 1] = first[7, 2] = True
    warm = model.forward_full(
        torch.randn(5, B, 4, generator=g), model.initial_state(B), torch.zeros(5, B, dtype=torch.bool)
    )
    r = Rollout(
        obs=torch.randn(T + 1, B, 4, generator=g),
        first=first,
        actions=torch.randint(0, 3, (T, B), generator=g),
        r_t=torch.randn(T, B, 2, generator=g),
        discount_t=torch.full((T, B, 2), 0.9),
        core_state=tuple(x.detach() for x in warm.core_state),
    )
    out = feudal_loss(model, r, LossConfig(value_coef=0.5, entropy_coef=0.01), FeudalConfig(horizon=2, **feudal))
    out.loss.backward()
    probe = sum(
        float((p.grad.double() * torch.randn(p.shape, generator=torch.Generator().manual_seed(i)).double()).sum())
        for i, p in enumerate(model.parameters())
    )
    return out, probe


def test_the_paper_configuration_is_unchanged_on_a_fixed_rollout():
    """The loss and a random projection of its gradients, as the implementation of commit 779a283 gave them
    (before the intrinsic gate and the speed work): the paper's configuration is the same computation."""
    out, probe = _fixed_loss()
    assert out.loss.item() == pytest.approx(-0.017101168632507324, rel=1e-6)
    assert probe == pytest.approx(0.8566653980428278, rel=1e-6)
    assert out.stats["feudal/goal_cos"] == pytest.approx(0.08906199783086777, rel=1e-6)
    assert out.stats["feudal/intrinsic_weight"] == 0.5


def test_the_gate_scales_the_intrinsic_reward_by_the_goal_cosine():
    paper, _ = _fixed_loss()
    goal_cos = paper.stats["feudal/goal_cos"]  # (0.089 on this rollout)
    half, _ = _fixed_loss(intrinsic_gate=2 * goal_cos)
    assert half.stats["feudal/intrinsic_weight"] == pytest.approx(0.25)
    quarter_alpha, _ = _fixed_loss(intrinsic_coef=0.25)  # (the same weight, set by hand)
    assert half.loss.item() == pytest.approx(quarter_alpha.loss.item(), rel=1e-6)
    assert half.loss.item() != pytest.approx(paper.loss.item(), rel=1e-3)
    full, _ = _fixed_loss(intrinsic_gate=goal_cos / 2)
    assert full.loss.item() == pytest.approx(paper.loss.item(), rel=1e-6)
