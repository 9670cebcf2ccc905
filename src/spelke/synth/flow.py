"""Exact optical flow of a rendered scene from rigid transforms, depth and the camera (no Blender).

For a pixel ``p`` of frame ``t`` that sees object ``i`` at depth ``d``, the 3-D point is
``X = unproject(p, d)`` in world coordinates; the object carries it to
``X' = M_i(t') M_i(t)^-1 X`` at frame ``t'``, and the flow is ``project(X') - p``. The background (id 0)
is static. This is the flow for any gap, forward or backward, including for points that become hidden
at ``t'`` (as in MPI-Sintel's and MOVi's ground truth); :func:`flow_occlusion` tells which are.

Cycles' vector pass holds the same motion for neighbouring frames (one-frame gaps only);
:func:`vector_pass_to_flow` converts it, and the generator cross-checks the two.
"""

from __future__ import annotations

import numpy as np

from spelke.errors import ShapeError
from spelke.synth.camera import Camera


def rigid_flow(
    depth: np.ndarray,
    instance: np.ndarray,
    src: np.ndarray,
    dst: np.ndarray,
    camera: Camera,
    camera_dst: Camera | None = None,
) -> np.ndarray:
    """Exact flow (2, H, W) in pixels from the frame of ``depth``/``instance`` to another frame.

    Args:
        depth: (H, W) depth along the camera axis (inf where nothing is hit: flow 0 there, or the
            rotation-only flow of points at infinity when the camera turns).
        instance: (H, W) ids: 0 = static background, ``i`` = object ``i``.
        src: (K+1, 4, 4) world-from-object matrices at the source frame; row 0 (the background) is unused.
        dst: the same at the target frame.
        camera: the camera of the source frame.
        camera_dst: the camera of the target frame (default: the same, a static camera).
    """
    depth = np.asarray(depth, dtype=np.float64)
    inst = np.asarray(instance)
    if depth.shape != inst.shape or depth.ndim != 2:
        raise ShapeError(f"depth and instance must both be (H, W), got {depth.shape} and {inst.shape}")
    src = np.asarray(src, dtype=np.float64)
    dst = np.asarray(dst, dtype=np.float64)
    if src.shape != dst.shape or src.shape[1:] != (4, 4):
        raise ShapeError(f"src and dst must both be (K+1, 4, 4), got {src.shape} and {dst.shape}")
    if inst.max(initial=0) >= len(src):
        raise ShapeError(f"instance ids go up to {inst.max()}, but transforms are given for {len(src)} ids")
    size = depth.shape
    cam_dst = camera_dst or camera
    uv = camera.pixel_grid(size)
    hit = np.isfinite(depth)
    # Where nothing is hit (the sky, at infinity) only the camera's turn moves the image: a point very
    # far along the pixel's ray stands in for the point at infinity (its flow is kept when the camera turns).
    turns = not np.allclose(cam_dst.rotation, camera.rotation)
    world = camera.unproject(uv, np.where(hit, depth, 1e9), size)
    # Per-id motion M_dst M_src^-1 (identity for the static background).
    motion = dst @ np.linalg.inv(src)
    motion[0] = np.eye(4)
    m = motion[inst]  # (H, W, 4, 4)
    moved = np.einsum("hwij,hwj->hwi", m[..., :3, :3], world) + m[..., :3, 3]
    uv2, _ = cam_dst.project(moved, size)
    flow = np.where(hit[..., None] | turns, uv2 - uv, 0.0)
    return np.ascontiguousarray(flow.transpose(2, 0, 1)).astype(np.float32)


def flow_occlusion(flow: np.ndarray, instance_src: np.ndarray, instance_dst: np.ndarray) -> np.ndarray:
    """Pixels whose flow target leaves the image or lands on another id at the target frame (True =
    occluded or out of view): (H, W) bool. A cheap id test, exact for separate rigid objects."""
    _, h, w = flow.shape
    ys, xs = np.mgrid[0:h, 0:w]
    tx = np.rint(xs + flow[0]).astype(np.int64)
    ty = np.rint(ys + flow[1]).astype(np.int64)
    inside = (tx >= 0) & (tx < w) & (ty >= 0) & (ty < h)
    target = np.full((h, w), -1, dtype=np.int64)
    target[inside] = np.asarray(instance_dst)[ty[inside], tx[inside]]
    return ~inside | (target != np.asarray(instance_src))


def vector_pass_to_flow(vector: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Cycles' vector pass (H, W, 4) -> (forward, backward) flows (2, H, W) to the next / previous frame.

    Measured on Blender 4.2 (tests/synth check it against :func:`rigid_flow`): channels 0-1 hold the
    position at the previous frame minus the current one, channels 2-3 the current position minus the
    one at the next frame, both with y pointing up (image y points down, hence the signs).
    """
    v = np.asarray(vector, dtype=np.float32)
    if v.ndim != 3 or v.shape[-1] != 4:
        raise ShapeError(f"vector pass must be (H, W, 4), got {v.shape}")
    forward = np.stack([-v[..., 2], v[..., 3]])
    backward = np.stack([v[..., 0], -v[..., 1]])
    return forward, backward
