"""Pure loss and return math: functions of time-major tensors, no processes, no envs."""
