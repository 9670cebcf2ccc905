"""spelke.data: frames and clips, image/label/flow/video IO, and the dataset registry.

The lowest layer of spelke: it imports nothing above it. Everything here follows the project
conventions: images float32 ``(3, H, W)`` in [0, 1], label maps int64 ``(H, W)`` with 0 = background,
soft masks ``(K, H, W)``, flow ``(2, H, W)`` in pixels with channel 0 = x. Every write is atomic.

Examples:
    >>> import tempfile, numpy as np
    >>> from spelke.data import create_dataset, write_sequence_tree
    >>> root = tempfile.mkdtemp()
    >>> labels = np.zeros((3, 8, 8), np.int64); labels[:, 1:4, 1:4] = 1
    >>> _ = write_sequence_tree(root, "cube", np.zeros((3, 3, 8, 8), np.float32), labels, split="val")
    >>> ds = create_dataset("davis_tree", root=root, split="val")
    >>> clip = ds.clip("cube")
    >>> clip.images.shape, clip.labels.shape, ds.frame("cube", 2).name
    ((3, 3, 8, 8), (3, 8, 8), '00002')
"""

from spelke.data.datasets import (
    Dataset,
    DavisTree,
    FrameFolder,
    ImageDataset,
    ImageFolder,
    SequenceDataset,
    VideoFile,
    add_to_split,
    write_sequence_tree,
)
from spelke.data.flow_io import (
    read_flo,
    read_flow,
    read_kitti_flow,
    write_flo,
    write_flow,
    write_kitti_flow,
)
from spelke.data.io import (
    IMAGE_EXTENSIONS,
    atomic_path,
    atomic_write,
    davis_palette,
    read_binary_mask,
    read_image,
    read_json,
    read_label_map,
    read_soft_mask,
    write_image,
    write_json,
    write_label_map,
    write_soft_mask,
)
from spelke.data.registry import DATA_ENV, DATASETS, create_dataset, list_datasets, register_dataset
from spelke.data.types import UNANNOTATED, Clip, Frame
from spelke.data.video import (
    VIDEO_EXTENSIONS,
    iter_video,
    list_frames,
    natural_key,
    read_frames,
    read_video,
    video_info,
    write_video,
)

__all__ = [
    "DATASETS",
    "DATA_ENV",
    "IMAGE_EXTENSIONS",
    "UNANNOTATED",
    "VIDEO_EXTENSIONS",
    "Clip",
    "Dataset",
    "DavisTree",
    "Frame",
    "FrameFolder",
    "ImageDataset",
    "ImageFolder",
    "SequenceDataset",
    "VideoFile",
    "add_to_split",
    "atomic_path",
    "atomic_write",
    "create_dataset",
    "davis_palette",
    "iter_video",
    "list_datasets",
    "list_frames",
    "natural_key",
    "read_binary_mask",
    "read_flo",
    "read_flow",
    "read_frames",
    "read_image",
    "read_json",
    "read_kitti_flow",
    "read_label_map",
    "read_soft_mask",
    "read_video",
    "register_dataset",
    "video_info",
    "write_flo",
    "write_flow",
    "write_image",
    "write_json",
    "write_kitti_flow",
    "write_label_map",
    "write_sequence_tree",
    "write_soft_mask",
    "write_video",
]
