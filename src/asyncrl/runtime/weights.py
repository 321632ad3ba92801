"""Versioned model weights in shared memory: the learner publishes, actors pick them up without waiting.

A triple buffer. Publication number ``n`` lives in ``buffers[n % 3]`` together with its policy
version (the learner's update count). The learner writes publication ``n + 1`` into the next
buffer and only then sets ``seq = n + 1``; a reader that copied ``buffers[n0 % 3]`` keeps the copy
if ``seq`` is still ``n0`` or ``n0 + 1`` afterwards (the learner only overwrites that buffer when it
writes publication ``n0 + 3``, after publishing ``n0 + 2``) and retries otherwise. Neither side
ever blocks the other, and no lock exists that a killed actor could leave held.

The protocol relies on stores becoming visible in program order and loads not being reordered
with loads, as x86-64 guarantees (total store order). Weakly ordered CPUs (ARM) give no such
guarantee without fences, which plain tensor copies do not emit: there a reader could, rarely,
keep a torn copy (a mix of two consecutive versions).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor


class WeightStore:
    """Shared ``[3, P]`` buffers, their policy versions ``[3]`` and a publication counter."""

    def __init__(self, params: Sequence[Tensor], shared: bool = True):
        self.shapes = [tuple(p.shape) for p in params]
        self.numels = [p.numel() for p in params]
        self.buffers = torch.zeros(3, sum(self.numels))
        self.versions = torch.full((3,), -1, dtype=torch.int64)
        self.seq = torch.full((1,), -1, dtype=torch.int64)
        if shared:  # (a Ray runner's own copy stays in its process)
            for t in (self.buffers, self.versions, self.seq):
                t.share_memory_()
        """The latest publication number (-1: none yet)."""

    def _views(self, b: int) -> list[Tensor]:
        return [v.view(s) for v, s in zip(self.buffers[b].split(self.numels), self.shapes)]

    @property
    def latest_version(self) -> int:
        """The policy version of the latest publication (-1: none yet)."""
        n = int(self.seq[0])
        return -1 if n < 0 else int(self.versions[n % 3])

    @torch.no_grad()
    def publish(self, params: Sequence[Tensor], version: int) -> None:
        """Make ``params`` (their current values) readable as policy ``version``. One writer only."""
        n = int(self.seq[0]) + 1
        if params[0].device.type != "cpu":  # a GPU learner: one device-to-host copy of all weights
            self.buffers[n % 3].copy_(torch.cat([p.detach().reshape(-1) for p in params]))
        else:
            torch._foreach_copy_(self._views(n % 3), [p.detach() for p in params])
        self.versions[n % 3] = version
        self.seq[0] = n

    @torch.no_grad()
    def publish_flat(self, flat: Tensor, version: int) -> None:
        """Publish weights that arrived flattened ``[P]`` (a Ray runner's copy of the learner's), as ``version``."""
        n = int(self.seq[0]) + 1
        self.buffers[n % 3].copy_(flat)
        self.versions[n % 3] = version
        self.seq[0] = n

    def latest(self) -> tuple[int, Tensor]:
        """``(version, flat weights [P])`` of the latest publication, a view: the publisher must not be writing
        (the Ray runtime's learner publishes in the same thread that reads)."""
        n = int(self.seq[0])
        return int(self.versions[n % 3]), self.buffers[n % 3]

    @torch.no_grad()
    def read_into(self, params: Sequence[Tensor], have: int) -> int | None:
        """Copy the latest weights into ``params`` if their version is newer than ``have``; returns
        the version copied, or ``None`` when there is nothing newer."""
        while True:
            n0 = int(self.seq[0])
            if n0 < 0 or int(self.versions[n0 % 3]) <= have:
                return None
            version = int(self.versions[n0 % 3])
            torch._foreach_copy_(list(params), self._views(n0 % 3))
            if int(self.seq[0]) - n0 <= 1:
                return version
