"""Dataset base classes and the generic datasets (importing this package registers them).

Registered here: ``image_folder``, ``frame_folder``, ``video_file``, ``davis_tree`` (alias
``spelke_sequences``). Benchmark datasets live in their own modules and register themselves the same way,
with :func:`spelke.data.register_dataset`: ``davis2016``, ``davis2017`` (:mod:`.davis`), ``segtrackv2``
(:mod:`.segtrack`), ``fbms59`` (:mod:`.fbms`), ``movi`` (:mod:`.movi`), ``kitti`` (:mod:`.kitti`),
``moving-clevrtex``, ``moving-clevr`` (:mod:`.moving_clevr`) and ``clevrtex`` (:mod:`.clevrtex`).
"""

from spelke.data.datasets.base import Dataset, ImageDataset, SequenceDataset, describe_folder, read_split_file
from spelke.data.datasets.clevrtex import ClevrTexDataset
from spelke.data.datasets.davis import Davis2016, Davis2017
from spelke.data.datasets.davis_tree import DavisTree, add_to_split, write_sequence_tree
from spelke.data.datasets.fbms import FBMS59
from spelke.data.datasets.folders import FrameFolder, ImageFolder
from spelke.data.datasets.kitti import KittiInstance
from spelke.data.datasets.movi import Movi
from spelke.data.datasets.moving_clevr import MovingClevr, MovingClevrTex
from spelke.data.datasets.segtrack import SegTrackV2
from spelke.data.datasets.video_file import VideoFile

__all__ = [
    "FBMS59",
    "ClevrTexDataset",
    "Dataset",
    "Davis2016",
    "Davis2017",
    "DavisTree",
    "FrameFolder",
    "ImageDataset",
    "ImageFolder",
    "KittiInstance",
    "Movi",
    "MovingClevr",
    "MovingClevrTex",
    "SegTrackV2",
    "SequenceDataset",
    "VideoFile",
    "add_to_split",
    "describe_folder",
    "read_split_file",
    "write_sequence_tree",
]
