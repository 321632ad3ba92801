"""Periodic evaluations in a separate process, so they never stall training.

The trainer submits ``(env_steps, state_dict)`` snapshots; the evaluator plays ``episodes``
deterministic episodes with each and sends back the returns. One evaluation runs at a time: a
submission made while the previous one still runs is skipped, so evaluations never queue up.

Evaluations play as ``asyncrl eval`` does (:func:`asyncrl.evaluate.run_episodes` with the run's env
options): on Atari, the run's ``atari_eval`` protocol (default ``game``: whole games, no FIRE after
a lost life).
"""

from __future__ import annotations

import json
import queue
import time
import traceback
from typing import Any

from asyncrl.evaluate import run_episodes
from asyncrl.nn.build import make_model
from asyncrl.nn.spec import ModelSpec
from asyncrl.runtime.procs import WorkerFailed, child_preamble, stop_processes


def _evaluator_main(requests, results, env_id: str, spec_json: str, episodes: int, seed: int,
                 options: Any) -> None:
    child_preamble()
    model = make_model(ModelSpec(**json.loads(spec_json)))
    model.eval()
    try:
        while True:
            item = requests.get()
            if item is None:
                return
            steps, state = item
            model.load_state_dict(state)
            results.put((steps, run_episodes(model, env_id, episodes, seed=seed, options=options)))
    except Exception:
        results.put(("error", traceback.format_exc()))


class PeriodicEvaluator:
    """Owns the evaluation process; ``submit`` never blocks, ``poll`` returns finished evaluations."""

    def __init__(self, ctx, env_id: str, spec_json: str, episodes: int, seed: int, options: Any = None):
        self.requests = ctx.Queue()
        self.results = ctx.Queue()
        self.snapshots: dict[int, dict] = {}
        self.busy = 0
        self.proc = ctx.Process(target=_evaluator_main, name="asyncrl-evaluator", daemon=True,
                                args=(self.requests, self.results, env_id, spec_json, episodes, seed, options))
        self.proc.start()

    def submit(self, env_steps: int, state_dict: dict) -> bool:
        """Start an evaluation of ``state_dict``; ``False`` (skipped) while the previous one runs."""
        if self.busy:
            return False
        snap = {k: v.detach().clone() for k, v in state_dict.items()}
        self.snapshots[env_steps] = snap
        self.requests.put((env_steps, snap))
        self.busy += 1
        return True

    def poll(self) -> list[tuple[int, list[float], dict]]:
        """Finished evaluations as ``(env_steps, returns, the snapshot evaluated)``."""
        done: list[tuple[int, list[float], dict]] = []
        while True:
            try:
                steps, returns = self.results.get_nowait()
            except queue.Empty:
                if not self.proc.is_alive():
                    raise WorkerFailed(f"the evaluation process (pid {self.proc.pid}) died "
                                       f"(exit code {self.proc.exitcode})") from None
                return done
            if steps == "error":
                raise WorkerFailed(f"the evaluation process raised an exception:\n{returns}")
            self.busy -= 1
            done.append((steps, returns, self.snapshots.pop(steps)))

    def wait(self, timeout: float) -> list[tuple[int, list[float], dict]]:
        """Wait up to ``timeout`` seconds for the evaluations still running."""
        out, deadline = [], time.monotonic() + timeout
        while self.busy > 0 and time.monotonic() < deadline and self.proc.is_alive():
            out += self.poll()
            time.sleep(0.02)
        return out

    def close(self) -> None:
        try:
            self.requests.put(None)
        except (ValueError, OSError):
            pass
        stop_processes([self.proc], timeout=2.0)
        for q in (self.requests, self.results):
            q.cancel_join_thread()
            q.close()
