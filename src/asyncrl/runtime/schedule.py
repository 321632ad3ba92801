"""Learning-rate schedules as pure functions of the global env step."""

from __future__ import annotations

from dataclasses import dataclass

from asyncrl.errors import UsageError


def learning_rate(
    base_lr: float, schedule: str, env_steps: int, total_steps: int | None, start_steps: int = 0
) -> float:
    """``constant``: ``base_lr``; ``linear``: decays from ``base_lr`` at ``start_steps`` to 0 at ``total_steps``."""
    if schedule == "linear" and total_steps and total_steps > start_steps:
        return base_lr * max(0.0, 1.0 - (env_steps - start_steps) / (total_steps - start_steps))
    if schedule == "linear" and total_steps:
        return 0.0
    return base_lr


@dataclass(frozen=True)
class LrSchedule:
    """The run's schedule: ``lr`` at ``start_steps``, then ``kind`` until ``total_steps``.

    A fresh run starts at step 0 with the configured lr. A resumed run whose budget changed restarts the
    decay from the lr it had reached, so a linear schedule continues down to 0 at the new budget instead of
    jumping back up (:func:`resumed_schedule`).
    """

    lr: float
    kind: str
    total_steps: int | None
    start_steps: int = 0

    def __call__(self, env_steps: int) -> float:
        return learning_rate(self.lr, self.kind, env_steps, self.total_steps, self.start_steps)

    def to_dict(self) -> dict:
        return {"lr": self.lr, "start_steps": self.start_steps, "total_steps": self.total_steps}


def resumed_schedule(lr: float, kind: str, total_steps: int | None, env_steps: int, saved: dict | None) -> LrSchedule:
    """The schedule of a run resumed at ``env_steps`` with budget ``total_steps``.

    ``saved`` is the schedule the checkpoint was written with (``LrSchedule.to_dict``; ``None`` for a
    fresh run or an older checkpoint). With the same budget the saved schedule goes on unchanged; with a
    new budget the decay restarts from the saved schedule's lr at ``env_steps``.
    """
    if saved is None:
        return LrSchedule(lr, kind, total_steps, 0)
    old = LrSchedule(float(saved["lr"]), kind, saved["total_steps"], int(saved["start_steps"]))
    if old.total_steps == total_steps:
        return old
    now = old(env_steps)
    if kind == "linear" and now == 0.0 and total_steps is not None and total_steps > env_steps:
        raise UsageError(
            f"--total-steps {total_steps}: this run's linear learning-rate schedule already reached 0 "
            f"at step {env_steps:,}, so the continued run would not learn (its lr continues from "
            f"where it was, it does not jump back up); start a new run instead"
        )
    return LrSchedule(now, kind, total_steps, env_steps)
