"""Dataset base classes and the generic datasets (importing this package registers them).

Registered here: ``image_folder``, ``frame_folder``, ``video_file``, ``davis_tree`` (alias
``spelke_sequences``). Benchmark-specific datasets live in their own modules and register themselves the
same way, with :func:`spelke.data.register_dataset`.
"""

from spelke.data.datasets.base import Dataset, ImageDataset, SequenceDataset, describe_folder, read_split_file
from spelke.data.datasets.davis_tree import DavisTree, add_to_split, write_sequence_tree
from spelke.data.datasets.folders import FrameFolder, ImageFolder
from spelke.data.datasets.video_file import VideoFile

__all__ = [
    "Dataset",
    "DavisTree",
    "FrameFolder",
    "ImageDataset",
    "ImageFolder",
    "SequenceDataset",
    "VideoFile",
    "add_to_split",
    "describe_folder",
    "read_split_file",
    "write_sequence_tree",
]
