"""Exact flow from rigid transforms (no Blender): closed forms for translations and rotations."""

from __future__ import annotations

import numpy as np
import pytest

from spelke.errors import ShapeError
from spelke.synth.camera import Camera
from spelke.synth.flow import flow_occlusion, rigid_flow, vector_pass_to_flow


def _translation(t):
    m = np.eye(4)
    m[:3, 3] = t
    return m


def _rot_z(deg, centre):
    a = np.radians(deg)
    m = np.eye(4)
    m[:2, :2] = [[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]]
    c = np.asarray(centre, dtype=float)
    m[:3, 3] = c - m[:3, :3] @ c
    return m


def _scene(size=(40, 60)):
    """A camera looking along +y at a fronto-parallel object plane at depth 8 over a farther backdrop."""
    cam = Camera.look_at((0.0, -8.0, 0.0), (0.0, 0.0, 0.0))
    _h, _w = size
    depth = np.full(size, 20.0)
    inst = np.zeros(size, dtype=np.int64)
    inst[10:25, 15:40] = 1
    depth[inst == 1] = 8.0
    return cam, depth, inst


def test_pure_translation_parallel_to_the_image_is_f_times_t_over_depth():
    cam, depth, inst = _scene()
    f = cam.focal_pixels(depth.shape)
    dx, dz = 0.3, -0.2  # world x is image right, world z is image up for this camera
    src = np.stack([np.eye(4), np.eye(4)])
    dst = np.stack([np.eye(4), _translation([dx, 0.0, dz])])
    flow = rigid_flow(depth, inst, src, dst, cam)
    m = inst == 1
    assert np.allclose(flow[0][m], f * dx / 8.0, atol=1e-5)
    assert np.allclose(flow[1][m], -f * dz / 8.0, atol=1e-5)  # up in the world is down in y
    assert np.abs(flow[:, ~m]).max() < 1e-9  # the background is static


def test_identity_motion_gives_zero_and_backward_inverts_forward():
    cam, depth, inst = _scene()
    src = np.stack([np.eye(4), _translation([1.0, 2.0, 0.5])])
    assert np.abs(rigid_flow(depth, inst, src, src, cam)).max() < 1e-9
    dst = np.stack([np.eye(4), _rot_z(10, [0.0, 0.0, 0.0]) @ src[1]])
    fw = rigid_flow(depth, inst, src, dst, cam)
    # Moving the object back with the inverse motion carries each point back to where it started:
    # the composed motion is the identity.
    back = rigid_flow(depth, inst, dst, dst, cam)
    assert np.abs(back).max() < 1e-9
    assert np.abs(fw[:, inst == 1]).max() > 0.2


def test_rotation_about_the_view_axis_matches_the_closed_form():
    # A camera looking straight down -z from above; an object plane at depth 5 rotating about the view axis:
    # image points rotate about the principal point by the same angle.
    cam = Camera(rotation=np.eye(3), location=np.array([0.0, 0.0, 5.0]))
    size = (41, 41)
    depth = np.full(size, 5.0)
    inst = np.ones(size, dtype=np.int64)
    src = np.stack([np.eye(4), np.eye(4)])
    dst = np.stack([np.eye(4), _rot_z(30, [0.0, 0.0, 0.0])])
    flow = rigid_flow(depth, inst, src, dst, cam)
    uv = cam.pixel_grid(size)
    c = np.array([20.5, 20.5])
    p = uv - c
    a = np.radians(30)
    # world counter-clockwise is image clockwise (image y points down)
    rot = np.stack(
        [p[..., 0] * np.cos(a) + p[..., 1] * np.sin(a), -p[..., 0] * np.sin(a) + p[..., 1] * np.cos(a)], -1
    )
    assert np.allclose(flow.transpose(1, 2, 0), rot - p, atol=1e-4)


def test_nothing_hit_has_zero_flow_and_shapes_are_checked():
    cam, depth, inst = _scene()
    depth[0, :] = np.inf
    src = np.stack([np.eye(4), np.eye(4)])
    dst = np.stack([np.eye(4), _translation([1.0, 0, 0])])
    assert np.all(rigid_flow(depth, inst, src, dst, cam)[:, 0] == 0)
    with pytest.raises(ShapeError, match="transforms"):
        rigid_flow(depth, inst + 5, src, dst, cam)
    with pytest.raises(ShapeError):
        rigid_flow(depth[:, :3], inst, src, dst, cam)


def test_occlusion_by_ids():
    inst0 = np.zeros((10, 10), dtype=np.int64)
    inst0[2:5, 2:5] = 1
    inst1 = np.zeros_like(inst0)
    inst1[2:5, 4:7] = 1
    flow = np.zeros((2, 10, 10), dtype=np.float32)
    flow[0][inst0 == 1] = 2.0
    occ = flow_occlusion(flow, inst0, inst1)
    assert not occ[inst0 == 1].any()
    assert occ[2:5, 5:7].all()  # background there is covered by the object at the next frame


def test_vector_pass_convention():
    v = np.zeros((2, 3, 4), dtype=np.float32)
    v[..., 0], v[..., 1], v[..., 2], v[..., 3] = -1.0, 2.0, -3.0, 4.0
    fw, bw = vector_pass_to_flow(v)
    assert np.all(fw[0] == 3.0) and np.all(fw[1] == 4.0)
    assert np.all(bw[0] == -1.0) and np.all(bw[1] == -2.0)


def test_a_turning_camera_gives_the_rotational_flow_of_its_closed_form():
    """A camera that pans by theta about its own up axis moves every static point by the homography
    K R^T K^-1 (no parallax: the flow does not depend on depth); at the image centre that is f tan(theta)
    to the right. Its roll turns the image about the centre."""
    from spelke.synth.moving import camera_poses

    size = (40, 60)
    cam = Camera.look_at((0.0, -8.0, 0.0), (0.0, 0.0, 0.0))
    f = cam.focal_pixels(size)
    theta = np.radians(2.0)
    poses = camera_poses(cam, np.array([0.0, theta, 0.0]), range(-1, 3))
    assert np.allclose(poses[0].rotation, cam.rotation)
    for t, c in poses.items():
        assert np.allclose(c.rotation.T @ c.rotation, np.eye(3)) and np.allclose(c.location, cam.location)
    # constant angular velocity: each frame turns by the same relative rotation
    rel = [poses[t].rotation.T @ poses[t + 1].rotation for t in range(-1, 2)]
    assert np.allclose(rel[0], rel[1]) and np.allclose(rel[1], rel[2])
    inst = np.zeros(size, np.int64)
    ident = np.eye(4)[None]
    flows = [rigid_flow(np.full(size, d), inst, ident, ident, poses[0], poses[1]) for d in (3.0, 30.0)]
    assert np.allclose(flows[0], flows[1], atol=1e-6)  # depth does not matter
    sky = rigid_flow(np.full(size, np.inf), inst, ident, ident, poses[0], poses[1])
    assert np.allclose(sky, flows[0], atol=1e-4)  # nor at infinity: the sky turns with the camera
    # the pixel centre nearest the principal point is half a pixel right of it
    xs = 0.5
    expected_u = f * np.tan(np.arctan(xs / f) + theta) - xs  # the ray's angle grows by theta
    assert flows[0][0, size[0] // 2, size[1] // 2] == pytest.approx(expected_u, rel=1e-3)
    roll = camera_poses(cam, np.array([0.0, 0.0, np.radians(90.0)]), [0, 1])
    fr = rigid_flow(np.full(size, 5.0), inst, ident, ident, roll[0], roll[1])
    # a quarter turn of the camera about its viewing axis (+z points backwards) turns the image a quarter
    # turn the other way: (dx, dy) from the centre -> (-dy, dx) in image coordinates (y down)
    y0, x0 = 5, 10
    dx, dy = x0 + 0.5 - size[1] / 2, y0 + 0.5 - size[0] / 2
    assert fr[:, y0, x0] == pytest.approx([-dy - dx, dx - dy], abs=1e-6)
