"""Registered evaluation protocols: ``create_protocol("davis2016").evaluate(pred_dir, gt_dir)``.

Examples:
    >>> from spelke.eval.protocols import list_protocols
    >>> "clevrtex" in list_protocols()
    True
"""

from __future__ import annotations

from spelke.eval.protocols.base import EvalResult, ItemScore, Protocol
from spelke.registry import Registry

PROTOCOLS: Registry[Protocol] = Registry("protocol")


def _register_builtin() -> None:
    from spelke.eval.protocols import clevrtex, image, video

    for module in (clevrtex, video, image):
        for cls in module.PROTOCOL_CLASSES:
            inst = cls()
            PROTOCOLS.add(cls.name, inst, summary=inst.describe(), oracle=cls.oracle, reads=cls.reads)


def create_protocol(name: str) -> Protocol:
    """The registered protocol object named ``name``."""
    return PROTOCOLS.get(name)


def list_protocols(pattern: str = "*") -> list[str]:
    """Names of registered protocols matching a glob pattern (``"*oracle*"``)."""
    return PROTOCOLS.list(pattern)


_register_builtin()

__all__ = ["PROTOCOLS", "EvalResult", "ItemScore", "Protocol", "create_protocol", "list_protocols"]
