"""Learning-rate schedules as pure functions of the global step."""


def learning_rate(base_lr: float, schedule: str, env_steps: int, total_steps: int | None) -> float:
    """``constant``: ``base_lr``; ``linear``: decays from ``base_lr`` to 0 at ``total_steps``."""
    if schedule == "linear" and total_steps:
        return base_lr * max(0.0, 1.0 - env_steps / total_steps)
    return base_lr
