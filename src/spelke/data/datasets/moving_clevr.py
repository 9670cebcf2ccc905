"""``moving-clevrtex`` and ``moving-clevr``: spelke's generated benchmarks, read from the DAVIS tree.

PPMP (thesis App. D.2) trains on Moving ClevrTex and Moving CLEVR, videos made by extending the ClevrTex
generator; ``spelke.synth`` renders them into the tree every spelke sequence dataset uses
(docs/contracts.md): ``JPEGImages/<seq>/<frame:05d>.png``, ``Annotations/<seq>/<frame:05d>.png`` (instance
ids stable across the clip, 0 = background), ``meta/<seq>.json``, ``ImageSets/<split>.txt``, with the
rendered ground-truth flow in the flow cache as backend ``gt``
(``flows/gt/Flows_gap<k>/<seq>/<frame:05d>.flo``). The two datasets are the ``davis_tree`` reader with the
ground-truth flow exposed; they differ only in name (and so in their ``$SPELKE_DATA`` folder).
"""

from __future__ import annotations

from spelke.data.datasets.davis_tree import DavisTree
from spelke.data.datasets.flow_access import CachedFlow
from spelke.data.registry import register_dataset

__all__ = ["MovingClevr", "MovingClevrTex"]

_LAYOUT = """
<root>/                                   written by spelke.synth (spelke's DAVIS tree)
├── JPEGImages/<seq>/00000.png
├── Annotations/<seq>/00000.png           instance ids stable across the clip, 0 = background
├── meta/<seq>.json                       per-frame object metadata, which objects move
├── ImageSets/<split>.txt                 sequence names (train, val)
└── flows/gt/Flows_gap<k>/<seq>/00000.flo (optional) rendered ground-truth flow, k in 1, 2, -1, -2
"""


class _MovingTree(CachedFlow, DavisTree):
    """The DAVIS tree with ``flow(seq, i, gap)`` reading the rendered ground truth by default."""

    layout = _LAYOUT
    default_flow_backend = "gt"


@register_dataset(
    "moving-clevrtex",
    aliases=("moving_clevrtex", "movingclevrtex"),
    summary="Moving ClevrTex (spelke.synth's DAVIS tree) with rendered ground-truth flow",
    kind="sequence",
)
class MovingClevrTex(_MovingTree):
    """Moving ClevrTex videos in spelke's DAVIS tree; options as ``davis_tree``; ``flow()`` reads backend ``gt``."""


@register_dataset(
    "moving-clevr",
    aliases=("moving_clevr", "movingclevr"),
    summary="Moving CLEVR (spelke.synth's DAVIS tree) with rendered ground-truth flow",
    kind="sequence",
)
class MovingClevr(_MovingTree):
    """Moving CLEVR videos in spelke's DAVIS tree; options as ``davis_tree``; ``flow()`` reads backend ``gt``."""
