"""Synthetic data: the ClevrTex family and Moving ClevrTex rendered with Blender, and numpy scenes.

- :mod:`spelke.synth.generate` / :mod:`spelke.synth.moving`: ``spelke generate`` (stills in the official
  ClevrTex layout; clips in the DAVIS tree with exact flow). Rendering needs the ``synth`` extra (bpy);
  scene sampling, variants, materials, cameras and flow are plain Python.
- :mod:`spelke.synth.textured_motion`: textured shapes moving by known motions, with exact flow, tracks
  and masks, without Blender (every motion test uses it).
- :mod:`spelke.synth.shapes2d`: the small moving-shapes clips of the demo.
"""

from spelke.synth.generate import GenerateConfig, generate_images
from spelke.synth.moving import VideoConfig, flow_between, generate_videos
from spelke.synth.scene import SceneConfig, SceneSpec, sample_scene
from spelke.synth.shapes2d import MovingShapes, make_moving_shapes
from spelke.synth.textured_motion import TexturedVideo, make_textured_video
from spelke.synth.variants import get_variant, list_variants

__all__ = [
    "GenerateConfig",
    "MovingShapes",
    "SceneConfig",
    "SceneSpec",
    "TexturedVideo",
    "VideoConfig",
    "flow_between",
    "generate_images",
    "generate_videos",
    "get_variant",
    "list_variants",
    "make_moving_shapes",
    "make_textured_video",
    "sample_scene",
]
