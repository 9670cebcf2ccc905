"""A pinhole camera that matches Blender's perspective camera, in plain numpy.

The scene sampler uses it for CLEVR's pixel coordinates and directions, the flow code uses it to project
3-D points, and :mod:`spelke.synth.blender` sets Blender's camera from the same numbers, so that what
is computed here and what Cycles renders agree to floating-point precision.

Conventions (Blender's): the camera looks down its local -Z axis with +Y up; the sensor (36 mm by
default) spans the larger image side (``sensor_fit = AUTO``); pixel coordinates are continuous with the
origin at the top-left corner of the image, so the centre of pixel ``(row i, column j)`` is at
``(x, y) = (j + 0.5, i + 0.5)``.

Examples:
    >>> cam = Camera.look_at((0.0, -10.0, 0.0), (0.0, 0.0, 0.0))
    >>> uv, z = cam.project([[0.0, 0.0, 0.0]], (240, 320))
    >>> uv.round(6).tolist(), z.round(6).tolist()
    ([[160.0, 120.0]], [10.0])
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from spelke.errors import ShapeError


@dataclass(frozen=True)
class Camera:
    """A perspective camera: world-from-camera rotation (3,3), location (3,), lens and sensor in mm."""

    rotation: np.ndarray
    location: np.ndarray
    lens: float = 35.0
    sensor: float = 36.0

    @classmethod
    def look_at(
        cls,
        location: tuple[float, float, float] | np.ndarray,
        target: tuple[float, float, float] | np.ndarray = (0.0, 0.0, 0.0),
        lens: float = 35.0,
        sensor: float = 36.0,
    ) -> Camera:
        """A camera at ``location`` looking at ``target`` with the world +Z as up."""
        loc = np.asarray(location, dtype=np.float64)
        forward = np.asarray(target, dtype=np.float64) - loc
        forward /= np.linalg.norm(forward)
        right = np.cross(forward, [0.0, 0.0, 1.0])
        if np.linalg.norm(right) < 1e-9:
            raise ValueError("the camera cannot look straight up or down (its up vector is undefined)")
        right /= np.linalg.norm(right)
        up = np.cross(right, forward)
        rot = np.stack([right, up, -forward], axis=1)  # columns: camera X, Y, Z in world coordinates
        return cls(rotation=rot, location=loc, lens=float(lens), sensor=float(sensor))

    def focal_pixels(self, size: tuple[int, int]) -> float:
        """Focal length in pixels for an image of ``size`` (H, W): the sensor spans the larger side."""
        h, w = size
        return self.lens / self.sensor * max(h, w)

    def matrix_world(self) -> np.ndarray:
        """The (4,4) world-from-camera matrix (Blender's ``camera.matrix_world``)."""
        m = np.eye(4)
        m[:3, :3] = self.rotation
        m[:3, 3] = self.location
        return m

    def to_camera(self, points: np.ndarray) -> np.ndarray:
        """World points (..., 3) -> camera coordinates (..., 3)."""
        p = np.asarray(points, dtype=np.float64)
        return (p - self.location) @ self.rotation

    def project(self, points: np.ndarray | list, size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
        """Project world points (..., 3) into an image of ``size`` (H, W).

        Returns:
            ``(uv, depth)``: continuous pixel coordinates (..., 2) as (x, y) and the depth along the
            viewing axis (..., ) (positive in front of the camera).
        """
        p = np.asarray(points, dtype=np.float64)
        if p.shape[-1] != 3:
            raise ShapeError(f"points must have shape (..., 3), got {p.shape}")
        c = self.to_camera(p)
        depth = -c[..., 2]
        f = self.focal_pixels(size)
        h, w = size
        with np.errstate(divide="ignore", invalid="ignore"):
            u = w / 2 + f * c[..., 0] / depth
            v = h / 2 - f * c[..., 1] / depth
        return np.stack([u, v], axis=-1), depth

    def unproject(self, uv: np.ndarray, depth: np.ndarray, size: tuple[int, int]) -> np.ndarray:
        """Inverse of :meth:`project`: pixel coordinates (..., 2) and depths (...) -> world points."""
        uv = np.asarray(uv, dtype=np.float64)
        d = np.asarray(depth, dtype=np.float64)
        f = self.focal_pixels(size)
        h, w = size
        x = (uv[..., 0] - w / 2) * d / f
        y = -(uv[..., 1] - h / 2) * d / f
        cam = np.stack([x, y, -d], axis=-1)
        return cam @ self.rotation.T + self.location

    def pixel_grid(self, size: tuple[int, int]) -> np.ndarray:
        """Continuous coordinates of every pixel centre: (H, W, 2) as (x, y)."""
        h, w = size
        ys, xs = np.mgrid[0:h, 0:w].astype(np.float64)
        return np.stack([xs + 0.5, ys + 0.5], axis=-1)
