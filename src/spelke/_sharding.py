"""Splitting a job into shards: ``--shard i/n`` on the command line, or a SLURM job array.

Shard ``i`` of ``n`` (``0 <= i < n``) takes the ``i``-th of ``n`` contiguous, near-equal blocks of an
ordered list of work items, so the shards partition the items exactly (every item in one shard) and
neighbouring items (frames of one sequence) stay together.

In a SLURM job array (``sbatch --array=0-9``) the shard comes from ``SLURM_ARRAY_TASK_ID``,
``SLURM_ARRAY_TASK_COUNT`` and, when the array does not start at 0 or has a step,
``SLURM_ARRAY_TASK_MIN`` and ``SLURM_ARRAY_TASK_STEP``.

Examples:
    >>> parse_shard("1/4")
    (1, 4)
    >>> [list(shard_range(10, i, 3)) for i in range(3)]
    [[0, 1, 2], [3, 4, 5], [6, 7, 8, 9]]
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from spelke.errors import ConfigError

__all__ = ["parse_shard", "shard_from_env", "shard_range"]


def shard_from_env(env: Mapping[str, str] | None = None) -> tuple[int, int] | None:
    """``(i, n)`` from a SLURM job array's environment, or None outside one."""
    env = os.environ if env is None else env
    task, count = env.get("SLURM_ARRAY_TASK_ID"), env.get("SLURM_ARRAY_TASK_COUNT")
    if not task or not count:
        return None
    try:
        first = int(env.get("SLURM_ARRAY_TASK_MIN", "0") or 0)
        step = int(env.get("SLURM_ARRAY_TASK_STEP", "1") or 1)
        i, n = (int(task) - first) // max(step, 1), int(count)
    except ValueError:
        raise ConfigError(
            f"cannot read the shard from SLURM_ARRAY_TASK_ID={task!r}, SLURM_ARRAY_TASK_COUNT={count!r}"
        ) from None
    if not 0 <= i < n:
        raise ConfigError(
            f"SLURM array task {task} maps to shard {i}, outside 0..{n - 1}; pass --shard i/n explicitly"
        )
    return i, n


def parse_shard(value: str | tuple[int, int] | None) -> tuple[int, int]:
    """``"i/n"`` or ``(i, n)`` -> ``(i, n)``; None -> the SLURM array's shard, else ``(0, 1)``.

    Raises:
        ConfigError: not of the form ``i/n`` with ``0 <= i < n``.
    """
    if value is None or value == "":
        return shard_from_env() or (0, 1)
    if isinstance(value, str):
        parts = value.split("/")
        try:
            i, n = (int(p) for p in parts)
        except ValueError:
            raise ConfigError(
                f"--shard must look like i/n (e.g. 0/4, shards counted from 0), got {value!r}"
            ) from None
    else:
        i, n = (int(v) for v in value)
    if n < 1 or not 0 <= i < n:
        raise ConfigError(f"shard {i}/{n} is invalid: need n >= 1 and 0 <= i < n (shards counted from 0)")
    return i, n


def shard_range(n_items: int, i: int, n: int) -> range:
    """Indices of shard ``i`` of ``n`` over ``n_items`` ordered items: a contiguous block."""
    return range(i * n_items // n, (i + 1) * n_items // n)
