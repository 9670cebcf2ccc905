"""The training engine shared by every trained method (DESIGN.md "Contracts at the seams").

* :mod:`spelke.engine.types`: the typed :class:`Batch` and the one :class:`ModelOutput`.
* :mod:`spelke.engine.schedules`: typed schedules (constant, linear, cosine, step, warm-up + poly).
* :mod:`spelke.engine.ema`: EMA weights with LRTL's warm-up rule.
* :mod:`spelke.engine.data`: :class:`MotionFrames`, frames with flow / tracks / a second frame.
* :mod:`spelke.engine.method`: the :class:`TrainableMethod` base class and optimiser settings.
* :mod:`spelke.engine.trainer`: ``train`` on Lightning, test-time adaptation, multi-seed summaries.
* :mod:`spelke.engine.checkpoint`: checkpoint headers that refuse a mismatch by name.

Lightning is imported only when training starts, so inference needs only torch.
"""

from __future__ import annotations

from spelke.engine.types import Batch, ModelOutput

__all__ = ["Batch", "ModelOutput"]
