"""spelke.motion: optical flow backends, warping and consistency checks, the flow cache, and point tracks.

Motion signals are computed once, cached on disk in a documented layout (:mod:`spelke.motion.cache`)
and read back by every method. Flow is float32 ``(2, H, W)`` in pixels, channel 0 = x.

Examples:
    >>> import tempfile
    >>> from spelke.synth.textured_motion import make_textured_video
    >>> video = make_textured_video(frames=3, size=(48, 64), seed=0)
    >>> dis = create_flow_backend("dis")
    >>> flow = dis(video.images[0], video.images[1])
    >>> end_point_error(flow, video.flow(0, 1)) < 0.5
    True
"""

from spelke.motion.backends import (
    FLOW_BACKENDS,
    FlowBackend,
    as_rgb_frame,
    create_flow_backend,
    list_flow_backends,
    register_flow_backend,
)
from spelke.motion.cache import (
    GT,
    PLAIN,
    FlowCache,
    available_backends,
    available_gaps,
    flow_path,
    read_flow,
    read_manifest,
    update_manifest,
    write_flow,
)
from spelke.motion.compute import FlowJobError, FlowJobReport, compute_flow, open_sequences, parse_gaps
from spelke.motion.consistency import (
    bilinear_sample,
    end_point_error,
    forward_backward_consistency,
    in_frame,
    occlusion_mask,
    photometric_error,
    photometric_filter,
    warp,
)
from spelke.motion.track_cache import TrackCache, read_tracks, track_path, write_tracks
from spelke.motion.track_compute import TrackJobError, TrackJobReport, compute_tracks
from spelke.motion.tracks import (
    TRACKERS,
    FlowSource,
    Tracker,
    Tracks,
    create_tracker,
    list_trackers,
    load_tracks,
    save_tracks,
)

__all__ = [
    "FLOW_BACKENDS",
    "GT",
    "PLAIN",
    "TRACKERS",
    "FlowBackend",
    "FlowCache",
    "FlowJobError",
    "FlowJobReport",
    "FlowSource",
    "TrackCache",
    "TrackJobError",
    "TrackJobReport",
    "Tracker",
    "Tracks",
    "as_rgb_frame",
    "available_backends",
    "available_gaps",
    "bilinear_sample",
    "compute_flow",
    "compute_tracks",
    "create_flow_backend",
    "create_tracker",
    "end_point_error",
    "flow_path",
    "forward_backward_consistency",
    "in_frame",
    "list_flow_backends",
    "list_trackers",
    "load_tracks",
    "occlusion_mask",
    "open_sequences",
    "parse_gaps",
    "photometric_error",
    "photometric_filter",
    "read_flow",
    "read_manifest",
    "read_tracks",
    "register_flow_backend",
    "save_tracks",
    "track_path",
    "update_manifest",
    "warp",
    "write_flow",
    "write_tracks",
]
