"""Python API in the Stable-Baselines3 spirit.

```python
from asyncrl import A3C, load
agent = A3C("CartPole-v1", workers=2, seed=0)
agent.learn(total_steps=200_000, target_return=475)
agent.save("cartpole.pt")
action, _ = load("cartpole.pt").predict(obs, deterministic=True)
```
"""

from __future__ import annotations

import os
import shutil
from dataclasses import fields

import numpy as np
import torch

from asyncrl.checkpoint import load_checkpoint, model_from_checkpoint, resolve_checkpoint_path
from asyncrl.config import TrainConfig
from asyncrl.core.batch import CoreState
from asyncrl.envs.multi_input import flatten
from asyncrl.errors import UsageError
from asyncrl.nn.model import PolicyNet
from asyncrl.train import TrainResult, train


class Policy:
    """A trained policy: ``predict`` maps observations to env actions."""

    def __init__(self, model: PolicyNet, env_id: str, checkpoint: dict | None = None):
        self.model, self.env_id, self.checkpoint = model, env_id, checkpoint

    def predict(
        self, obs, state: CoreState = None, episode_start=None, deterministic: bool = False, action_masks=None
    ) -> tuple[np.ndarray, CoreState]:
        """``obs`` (one observation or a batch ``[B, *obs_shape]``) -> ``(actions, core state)``.

        Pass the returned state back for recurrent policies (LSTM, and FeUdal always): without it every
        call starts from a fresh state. ``episode_start`` (bool ``[B]``) resets it.
        As in Stable-Baselines3, actions are sampled unless ``deterministic=True``.
        ``action_masks`` (bool ``[n]`` or ``[B, n]``, as
        sb3-contrib's ``MaskablePPO.predict`` takes them; a MultiDiscrete's factors side by side): only those actions
        are chosen.
        """
        parts = self.model.spec.obs_parts
        if parts and isinstance(obs, dict) and "action_mask" in obs and action_masks is None:
            action_masks = obs["action_mask"]  # (a Dict observation's mask entry, as in training)
        if parts:  # a Dict or Tuple observation (or a batch of them: [B, ...] entries), flattened as in training
            one = obs[parts[0]["key"]] if isinstance(obs, dict) else obs[0]
            obs = flatten(parts, obs, batched=np.asarray(one).ndim > len(parts[0]["shape"]))
        x = torch.as_tensor(np.asarray(obs))
        single = x.dim() == len(self.model.spec.obs_shape)
        if single:
            x = x.unsqueeze(0)
        B = x.shape[0]
        if state is None:
            state = self.model.initial_state(B)
        first = (
            torch.zeros(B, dtype=torch.bool)
            if episode_start is None
            else torch.as_tensor(np.asarray(episode_start, dtype=bool)).reshape(B)
        )
        mask = None if action_masks is None else torch.as_tensor(np.asarray(action_masks, dtype=bool)).reshape(B, -1)
        action, _, state = self.model.act(x, state, first, deterministic, mask)
        a = self.model.env_actions(action)
        return (a[0] if single else a), state


def load(path: str) -> Policy:
    """Load a policy from a checkpoint file or a run dir (its ``best.pt``)."""
    p = resolve_checkpoint_path(path)
    data = load_checkpoint(p)
    return Policy(model_from_checkpoint(data), data["env"], data)


class _Agent:
    algo = ""

    def __init__(self, env: str = "CartPole-v1", **settings):
        known = {f.name for f in fields(TrainConfig)} - {"algo", "env"}
        unknown = sorted(set(settings) - known)
        if unknown:
            raise UsageError(f"unknown setting(s) {unknown} (allowed: {sorted(known)})")
        self.config = TrainConfig(algo=self.algo, env=env, **settings)
        self.run_dir: str | None = None
        self.policy: Policy | None = None
        self.result: TrainResult | None = None

    def learn(
        self,
        total_steps: int | None = None,
        target_return: float | None = None,
        max_seconds: float | None = None,
        total_timesteps: int | None = None,
    ) -> _Agent:
        """Train. A second call continues the same run: ``total_steps`` and ``max_seconds`` then
        count from where the first call stopped, and ``target_return`` applies only if given again.
        ``total_timesteps`` is Stable-Baselines3's name for ``total_steps``."""
        total_steps = total_steps if total_steps is not None else total_timesteps
        budget = {"total_steps": total_steps, "target_return": target_return, "max_seconds": max_seconds}
        if self.run_dir is None:
            for k, v in budget.items():
                if v is not None:
                    setattr(self.config, k, v)
            self.result = train(self.config)
        else:
            assert self.result is not None
            if total_steps is not None:
                budget["total_steps"] = total_steps + self.result.env_steps
            else:
                del budget["total_steps"]
            if max_seconds is not None:
                budget["max_seconds"] = max_seconds + self.result.seconds
            cfg = TrainConfig(**{**self.config.__dict__, **budget})
            self.result = train(cfg, resume=self.run_dir, given=set(budget))
        self.run_dir = self.result.run_dir
        self.policy = load(os.path.join(self.run_dir, "checkpoints", "latest.pt"))
        return self

    def predict(self, obs, state: CoreState = None, episode_start=None, deterministic: bool = False):
        """See :meth:`Policy.predict`."""
        if self.policy is None:
            raise RuntimeError("call learn() before predict()")
        return self.policy.predict(obs, state, episode_start, deterministic)

    def save(self, path: str) -> None:
        """Copy the latest checkpoint to ``path`` (a ``.pt`` file ``asyncrl.load`` reads)."""
        if self.run_dir is None:
            raise RuntimeError("call learn() before save()")
        shutil.copyfile(os.path.join(self.run_dir, "checkpoints", "latest.pt"), path)


class A3C(_Agent):
    """Asynchronous advantage actor-critic: Hogwild worker processes on a shared model."""

    algo = "a3c"


class A2C(_Agent):
    """Synchronous advantage actor-critic: batched envs, one process."""

    algo = "a2c"


class IMPALA(_Agent):
    """IMPALA: actor processes and a central learner with V-trace off-policy correction."""

    algo = "impala"


class APPO(_Agent):
    """Asynchronous PPO: the clipped surrogate on V-trace (or GAE) targets, on the actor-learner runtime."""

    algo = "appo"


class A3CPS(_Agent):
    """A3C with a parameter server: actors send gradients, one learner applies them in arrival order."""

    algo = "a3c-ps"


class FeUdal(_Agent):
    """FeUdal Networks: a Manager that sets goals in a learned latent space and a Worker that
    follows them; on Hogwild worker processes (``runtime="hogwild"``) or in one process (``"sync"``)."""

    algo = "feudal"
