"""Synthetic data: the Blender benchmark generators (a later issue) and small numpy scenes for tests and demos."""

from spelke.synth.shapes2d import MovingShapes, make_moving_shapes

__all__ = ["MovingShapes", "make_moving_shapes"]
