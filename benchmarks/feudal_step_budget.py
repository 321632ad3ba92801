"""FeUdal Networks' per-step time budget against A3C-LSTM, in one process, one thread (as a Hogwild worker runs).

For a rollout of ``--envs`` envs x ``--steps`` steps on an env's observation and action spaces, each model is timed
on what a worker does per rollout: ``--steps`` acting calls (one batched forward each) and one loss with its
backward pass. FeUdal's acting call is also split into its parts (perception, the Manager's dilated LSTM, the goal
bookkeeping, the Worker) by timing each part alone on the same inputs. Figures are microseconds per env step
(a call's time divided by the envs it serves), median of ``--repeats``; env stepping is not included (the same for
both models).

Example (from the repo root):
  .venv/bin/python benchmarks/feudal_step_budget.py --env MiniGrid-DoorKey-8x8-v0
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import torch

from asyncrl.algos.feudal import FeudalConfig, feudal_loss
from asyncrl.core.batch import Rollout
from asyncrl.core.sections import LossConfig
from asyncrl.envs.make import env_spaces
from asyncrl.losses.actor_critic import actor_critic_loss
from asyncrl.losses.returns import advantages_and_returns
from asyncrl.nn.build import make_model
from asyncrl.nn.feudal import goal_sum
from asyncrl.nn.spec import spec_from_spaces


def _time(fn: Callable[[], object], repeats: int) -> float:
    fn()  # (warm-up)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def _rollout(model, obs_space, T: int, B: int) -> Rollout:
    obs = torch.as_tensor(obs_space.sample()).expand(T + 1, B, *obs_space.shape).clone()
    first = torch.zeros(T + 1, B, dtype=torch.bool)
    first[0] = True
    value = 2 if model.spec.kind == "feudal" else 1
    shape = (T, B, 2) if value == 2 else (T, B)
    return Rollout(
        obs=obs,
        first=first,
        actions=torch.randint(0, model.spec.action_dim, (T, B)),
        r_t=torch.zeros(shape),
        discount_t=torch.full(shape, 0.99),
        core_state=model.initial_state(B),
    )


def _a3c_loss(model, r: Rollout) -> torch.Tensor:
    out = model(r.obs, r.core_state, r.first)
    v = out.value.detach()
    adv, ret = advantages_and_returns(r.r_t, r.discount_t, v[:-1], v[-1], 1.0, False)
    logp, ent = model.log_prob_entropy(out.params[:-1], r.actions)
    return actor_critic_loss(logp, ent, out.value[:-1], adv, ret, 0.5, 0.01).loss


def _model_rows(name: str, model, loss, obs_space, T: int, B: int, repeats: int) -> list[tuple[str, float]]:
    r = _rollout(model, obs_space, T, B)
    state = model.initial_state(B)
    obs, first = r.obs[0], torch.zeros(B, dtype=torch.bool)
    act = _time(lambda: model.act(obs, state, first), repeats * 20) / B
    learn = _time(lambda: loss(model, r).backward(), repeats) / (T * B)
    return [(f"{name}: acting", act), (f"{name}: learning (loss and backward)", learn), (f"{name}: total", act + learn)]


def budget(env: str, T: int, B: int, repeats: int, lstm_size: int) -> list[tuple[str, float]]:
    obs_space, act_space = env_spaces(env)
    feudal = make_model(spec_from_spaces(obs_space, act_space, kind="feudal"))
    a3c = make_model(spec_from_spaces(obs_space, act_space, lstm=True, lstm_size=lstm_size))
    rows = _model_rows(f"A3C-LSTM ({lstm_size})", a3c, _a3c_loss, obs_space, T, B, repeats)
    rows += _model_rows("FeUdal", feudal, _feudal_loss, obs_space, T, B, repeats)
    return rows + _feudal_parts(feudal, obs_space, B, repeats * 20)


def _feudal_loss(model, r: Rollout) -> torch.Tensor:
    return feudal_loss(model, r, LossConfig(), FeudalConfig()).loss


@torch.no_grad()
def _feudal_parts(model, obs_space, B: int, repeats: int) -> list[tuple[str, float]]:
    """FeUdal's acting call, part by part (one step for ``B`` envs)."""
    obs = torch.as_tensor(obs_space.sample()).expand(1, B, *obs_space.shape).clone()
    hw, cw, hm, cm, tick, g_hist, s_hist, valid = model.initial_state(B)
    z = model._features(obs)
    s = model.mspace(z)
    goals = torch.nn.functional.normalize(torch.randn(1, B, model.spec.feudal_dim), dim=-1)

    def bookkeeping():  # (as acting's one step: the pooled goal's embedding, the histories shifted)
        w = model.phi(goal_sum(goals[0], g_hist))
        torch.cat([g_hist[:, 1:], goals[0].unsqueeze(1)], 1)
        torch.cat([s_hist[:, 1:], s[0].unsqueeze(1)], 1)
        torch.cat([valid[:, 1:], torch.ones(B, 1)], 1)
        return w

    parts = [
        ("perception (torso, f_percept, f_Mspace)", lambda: model.mspace(model._features(obs))),
        ("Manager: dilated LSTM step", lambda: model.manager.step(s[0], hm, cm, tick)),
        ("goal pooling, phi, the goal and state histories", bookkeeping),
        ("Worker: LSTM step, U w, both critics", lambda: model.worker(z[0], (hw, cw))),
    ]
    return [(f"FeUdal acting, part: {name}", _time(fn, repeats) / B) for name, fn in parts]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--env", default="MiniGrid-DoorKey-8x8-v0")
    ap.add_argument("--envs", type=int, default=16, help="envs per worker (B)")
    ap.add_argument("--steps", type=int, default=40, help="rollout length (T)")
    ap.add_argument("--lstm-size", type=int, default=256)
    ap.add_argument("--repeats", type=int, default=15)
    args = ap.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    print(f"# {args.env}, {args.envs} envs x {args.steps} steps, 1 thread; microseconds per env step")
    print("| what | us per env step |\n|---|---|")
    for name, sec in budget(args.env, args.steps, args.envs, args.repeats, args.lstm_size):
        print(f"| {name} | {sec * 1e6:.1f} |")


if __name__ == "__main__":
    main()
