"""The Newell teapot (Utah teapot) as a triangle mesh, for the OOD shapes (thesis Sec. 2.3).

Martin Newell's 1975 teapot is 32 bicubic Bezier patches over 306 control points (public domain; the
classic data set as distributed with Crow's "The Origins of the Teapot", IEEE CG&A 1987, in the usual
z-up form without Blinn's vertical 1.3x stretch). :func:`teapot_mesh` evaluates each patch on a regular
grid, welds the points patches share (so smooth shading has no seams), drops the faces that collapse at
the lid knob and bottom poles, and orients every face outward.

Like the original, the mesh is not closed: the lid sits loosely in the rim opening and the handle and spout
pass into the body without being joined to it.

Examples:
    >>> verts, faces = teapot_mesh(subdivisions=4)
    >>> verts.shape[1], faces.shape[1]
    (3, 3)
    >>> bool(verts[:, 2].min() == 0.0), round(float(verts[:, 2].max()), 2)
    (True, 3.15)
"""

from __future__ import annotations

import numpy as np

from spelke.errors import ConfigError

# Control points "x y z", comma separated (the classic ordering; patches index into it from 0).
_VERTICES = """
1.4 0 2.4, 1.4 -.784 2.4, .784 -1.4 2.4, 0 -1.4 2.4, 1.3375 0 2.53125, 1.3375 -.749 2.53125,
.749 -1.3375 2.53125, 0 -1.3375 2.53125, 1.4375 0 2.53125, 1.4375 -.805 2.53125, .805 -1.4375 2.53125,
0 -1.4375 2.53125, 1.5 0 2.4, 1.5 -.84 2.4, .84 -1.5 2.4, 0 -1.5 2.4, -.784 -1.4 2.4, -1.4 -.784 2.4,
-1.4 0 2.4, -.749 -1.3375 2.53125, -1.3375 -.749 2.53125, -1.3375 0 2.53125, -.805 -1.4375 2.53125,
-1.4375 -.805 2.53125, -1.4375 0 2.53125, -.84 -1.5 2.4, -1.5 -.84 2.4, -1.5 0 2.4, -1.4 .784 2.4,
-.784 1.4 2.4, 0 1.4 2.4, -1.3375 .749 2.53125, -.749 1.3375 2.53125, 0 1.3375 2.53125,
-1.4375 .805 2.53125, -.805 1.4375 2.53125, 0 1.4375 2.53125, -1.5 .84 2.4, -.84 1.5 2.4, 0 1.5 2.4,
.784 1.4 2.4, 1.4 .784 2.4, .749 1.3375 2.53125, 1.3375 .749 2.53125, .805 1.4375 2.53125,
1.4375 .805 2.53125, .84 1.5 2.4, 1.5 .84 2.4, 1.75 0 1.875, 1.75 -.98 1.875, .98 -1.75 1.875,
0 -1.75 1.875, 2 0 1.35, 2 -1.12 1.35, 1.12 -2 1.35, 0 -2 1.35, 2 0 .9, 2 -1.12 .9, 1.12 -2 .9,
0 -2 .9, -.98 -1.75 1.875, -1.75 -.98 1.875, -1.75 0 1.875, -1.12 -2 1.35, -2 -1.12 1.35, -2 0 1.35,
-1.12 -2 .9, -2 -1.12 .9, -2 0 .9, -1.75 .98 1.875, -.98 1.75 1.875, 0 1.75 1.875, -2 1.12 1.35,
-1.12 2 1.35, 0 2 1.35, -2 1.12 .9, -1.12 2 .9, 0 2 .9, .98 1.75 1.875, 1.75 .98 1.875, 1.12 2 1.35,
2 1.12 1.35, 1.12 2 .9, 2 1.12 .9, 2 0 .45, 2 -1.12 .45, 1.12 -2 .45, 0 -2 .45, 1.5 0 .225,
1.5 -.84 .225, .84 -1.5 .225, 0 -1.5 .225, 1.5 0 .15, 1.5 -.84 .15, .84 -1.5 .15, 0 -1.5 .15,
-1.12 -2 .45, -2 -1.12 .45, -2 0 .45, -.84 -1.5 .225, -1.5 -.84 .225, -1.5 0 .225, -.84 -1.5 .15,
-1.5 -.84 .15, -1.5 0 .15, -2 1.12 .45, -1.12 2 .45, 0 2 .45, -1.5 .84 .225, -.84 1.5 .225,
0 1.5 .225, -1.5 .84 .15, -.84 1.5 .15, 0 1.5 .15, 1.12 2 .45, 2 1.12 .45, .84 1.5 .225, 1.5 .84 .225,
.84 1.5 .15, 1.5 .84 .15, -1.6 0 2.025, -1.6 -.3 2.025, -1.5 -.3 2.25, -1.5 0 2.25, -2.3 0 2.025,
-2.3 -.3 2.025, -2.5 -.3 2.25, -2.5 0 2.25, -2.7 0 2.025, -2.7 -.3 2.025, -3 -.3 2.25, -3 0 2.25,
-2.7 0 1.8, -2.7 -.3 1.8, -3 -.3 1.8, -3 0 1.8, -1.5 .3 2.25, -1.6 .3 2.025, -2.5 .3 2.25,
-2.3 .3 2.025, -3 .3 2.25, -2.7 .3 2.025, -3 .3 1.8, -2.7 .3 1.8, -2.7 0 1.575, -2.7 -.3 1.575,
-3 -.3 1.35, -3 0 1.35, -2.5 0 1.125, -2.5 -.3 1.125, -2.65 -.3 .9375, -2.65 0 .9375, -2 -.3 .9,
-1.9 -.3 .6, -1.9 0 .6, -3 .3 1.35, -2.7 .3 1.575, -2.65 .3 .9375, -2.5 .3 1.125, -1.9 .3 .6,
-2 .3 .9, 1.7 0 1.425, 1.7 -.66 1.425, 1.7 -.66 .6, 1.7 0 .6, 2.6 0 1.425, 2.6 -.66 1.425,
3.1 -.66 .825, 3.1 0 .825, 2.3 0 2.1, 2.3 -.25 2.1, 2.4 -.25 2.025, 2.4 0 2.025, 2.7 0 2.4,
2.7 -.25 2.4, 3.3 -.25 2.4, 3.3 0 2.4, 1.7 .66 .6, 1.7 .66 1.425, 3.1 .66 .825, 2.6 .66 1.425,
2.4 .25 2.025, 2.3 .25 2.1, 3.3 .25 2.4, 2.7 .25 2.4, 2.8 0 2.475, 2.8 -.25 2.475, 3.525 -.25 2.49375,
3.525 0 2.49375, 2.9 0 2.475, 2.9 -.15 2.475, 3.45 -.15 2.5125, 3.45 0 2.5125, 2.8 0 2.4,
2.8 -.15 2.4, 3.2 -.15 2.4, 3.2 0 2.4, 3.525 .25 2.49375, 2.8 .25 2.475, 3.45 .15 2.5125,
2.9 .15 2.475, 3.2 .15 2.4, 2.8 .15 2.4, 0 0 3.15, 0 -.002 3.15, .002 0 3.15, .8 0 3.15, .8 -.45 3.15,
.45 -.8 3.15, 0 -.8 3.15, 0 0 2.85, .2 0 2.7, .2 -.112 2.7, .112 -.2 2.7, 0 -.2 2.7, -.002 0 3.15,
-.45 -.8 3.15, -.8 -.45 3.15, -.8 0 3.15, -.112 -.2 2.7, -.2 -.112 2.7, -.2 0 2.7, 0 .002 3.15,
-.8 .45 3.15, -.45 .8 3.15, 0 .8 3.15, -.2 .112 2.7, -.112 .2 2.7, 0 .2 2.7, .45 .8 3.15, .8 .45 3.15,
.112 .2 2.7, .2 .112 2.7, .4 0 2.55, .4 -.224 2.55, .224 -.4 2.55, 0 -.4 2.55, 1.3 0 2.55,
1.3 -.728 2.55, .728 -1.3 2.55, 0 -1.3 2.55, 1.3 0 2.4, 1.3 -.728 2.4, .728 -1.3 2.4, 0 -1.3 2.4,
-.224 -.4 2.55, -.4 -.224 2.55, -.4 0 2.55, -.728 -1.3 2.55, -1.3 -.728 2.55, -1.3 0 2.55,
-.728 -1.3 2.4, -1.3 -.728 2.4, -1.3 0 2.4, -.4 .224 2.55, -.224 .4 2.55, 0 .4 2.55, -1.3 .728 2.55,
-.728 1.3 2.55, 0 1.3 2.55, -1.3 .728 2.4, -.728 1.3 2.4, 0 1.3 2.4, .224 .4 2.55, .4 .224 2.55,
.728 1.3 2.55, 1.3 .728 2.55, .728 1.3 2.4, 1.3 .728 2.4, 0 0 0, 1.5 0 .15, 1.5 .84 .15, .84 1.5 .15,
0 1.5 .15, 1.5 0 .075, 1.5 .84 .075, .84 1.5 .075, 0 1.5 .075, 1.425 0 0, 1.425 .798 0, .798 1.425 0,
0 1.425 0, -.84 1.5 .15, -1.5 .84 .15, -1.5 0 .15, -.84 1.5 .075, -1.5 .84 .075, -1.5 0 .075,
-.798 1.425 0, -1.425 .798 0, -1.425 0 0, -1.5 -.84 .15, -.84 -1.5 .15, 0 -1.5 .15, -1.5 -.84 .075,
-.84 -1.5 .075, 0 -1.5 .075, -1.425 -.798 0, -.798 -1.425 0, 0 -1.425 0, .84 -1.5 .15, 1.5 -.84 .15,
.84 -1.5 .075, 1.5 -.84 .075, .798 -1.425 0, 1.425 -.798 0
"""

# 32 patches, one a line: 16 control-point indices, row-major over (u, v).
_PATCHES = """
0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15
3 16 17 18 7 19 20 21 11 22 23 24 15 25 26 27
18 28 29 30 21 31 32 33 24 34 35 36 27 37 38 39
30 40 41 0 33 42 43 4 36 44 45 8 39 46 47 12
12 13 14 15 48 49 50 51 52 53 54 55 56 57 58 59
15 25 26 27 51 60 61 62 55 63 64 65 59 66 67 68
27 37 38 39 62 69 70 71 65 72 73 74 68 75 76 77
39 46 47 12 71 78 79 48 74 80 81 52 77 82 83 56
56 57 58 59 84 85 86 87 88 89 90 91 92 93 94 95
59 66 67 68 87 96 97 98 91 99 100 101 95 102 103 104
68 75 76 77 98 105 106 107 101 108 109 110 104 111 112 113
77 82 83 56 107 114 115 84 110 116 117 88 113 118 119 92
120 121 122 123 124 125 126 127 128 129 130 131 132 133 134 135
123 136 137 120 127 138 139 124 131 140 141 128 135 142 143 132
132 133 134 135 144 145 146 147 148 149 150 151 68 152 153 154
135 142 143 132 147 155 156 144 151 157 158 148 154 159 160 68
161 162 163 164 165 166 167 168 169 170 171 172 173 174 175 176
164 177 178 161 168 179 180 165 172 181 182 169 176 183 184 173
173 174 175 176 185 186 187 188 189 190 191 192 193 194 195 196
176 183 184 173 188 197 198 185 192 199 200 189 196 201 202 193
203 203 203 203 206 207 208 209 210 210 210 210 211 212 213 214
203 203 203 203 209 216 217 218 210 210 210 210 214 219 220 221
203 203 203 203 218 223 224 225 210 210 210 210 221 226 227 228
203 203 203 203 225 229 230 206 210 210 210 210 228 231 232 211
211 212 213 214 233 234 235 236 237 238 239 240 241 242 243 244
214 219 220 221 236 245 246 247 240 248 249 250 244 251 252 253
221 226 227 228 247 254 255 256 250 257 258 259 253 260 261 262
228 231 232 211 256 263 264 233 259 265 266 237 262 267 268 241
269 269 269 269 278 279 280 281 274 275 276 277 270 271 272 273
269 269 269 269 281 288 289 290 277 285 286 287 273 282 283 284
269 269 269 269 290 297 298 299 287 294 295 296 284 291 292 293
269 269 269 269 299 304 305 278 296 302 303 274 293 300 301 270
"""


def control_points() -> tuple[np.ndarray, np.ndarray]:
    """The classic data: control points (306, 3) float64 and patches (32, 16) int64."""
    pts = np.array([[float(c) for c in p.split()] for p in _VERTICES.replace("\n", " ").split(",")])
    patches = np.array([[int(i) for i in line.split()] for line in _PATCHES.strip().splitlines()])
    return pts, patches


def _bernstein(t: np.ndarray) -> np.ndarray:
    """The four cubic Bernstein polynomials at ``t`` -> (len(t), 4)."""
    s = 1.0 - t
    return np.stack([s**3, 3 * t * s**2, 3 * t**2 * s, t**3], axis=1)


def _orient(verts: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Make the winding consistent across shared edges, then outward per connected part.

    The patches of the classic data do not all run the same way. A breadth-first walk flips every face
    whose shared edge runs the same direction as its neighbour's; each connected part (body, lid, handle,
    spout) is then flipped as a whole if its faces mostly point towards the part's centroid.
    """
    faces = faces.copy()
    n = len(faces)
    edge_faces: dict[tuple[int, int], list[int]] = {}
    for f, tri in enumerate(faces):
        for k in range(3):
            a, b = int(tri[k]), int(tri[(k + 1) % 3])
            edge_faces.setdefault((min(a, b), max(a, b)), []).append(f)

    def has_directed(f: int, a: int, b: int) -> bool:
        t = faces[f]
        return any(t[k] == a and t[(k + 1) % 3] == b for k in range(3))

    part = np.full(n, -1)
    parts = 0
    for seed in range(n):
        if part[seed] >= 0:
            continue
        part[seed] = parts
        queue = [seed]
        while queue:
            f = queue.pop()
            tri = faces[f]
            for k in range(3):
                a, b = int(tri[k]), int(tri[(k + 1) % 3])
                for g in edge_faces[(min(a, b), max(a, b))]:
                    if g == f or part[g] >= 0:
                        continue
                    if has_directed(g, a, b):  # same direction as f's edge: g is wound the other way
                        faces[g] = faces[g][::-1]
                    part[g] = parts
                    queue.append(g)
        parts += 1

    tri = verts[faces]
    area_normal = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    centre = tri.mean(axis=1)
    for p in range(parts):
        sel = part == p
        c = centre[sel].mean(axis=0)
        if np.einsum("ij,ij->", area_normal[sel], centre[sel] - c) < 0:
            faces[sel] = faces[sel][:, ::-1]
    return faces


def teapot_mesh(subdivisions: int = 6) -> tuple[np.ndarray, np.ndarray]:
    """Tessellate the Newell teapot.

    Args:
        subdivisions: grid cells per patch side (each patch gives ``2 * subdivisions**2`` triangles
            before the degenerate ones at the poles are dropped).

    Returns:
        ``(verts, faces)``: vertices (N, 3) float64 in the classic units (z up, the base at z = 0, the
        lid knob at z = 3.15, the spout towards +x, the handle towards -x) and triangles (M, 3) int64,
        counter-clockwise seen from outside.
    """
    if subdivisions < 1:
        raise ConfigError(f"teapot subdivisions must be at least 1, got {subdivisions}")
    pts, patches = control_points()
    b = _bernstein(np.linspace(0.0, 1.0, subdivisions + 1))
    m = subdivisions + 1
    grid = np.arange(m * m).reshape(m, m)
    quads = np.stack(
        [grid[:-1, :-1].ravel(), grid[1:, :-1].ravel(), grid[1:, 1:].ravel(), grid[:-1, 1:].ravel()], axis=1
    )
    all_pts, all_tris = [], []
    for i, patch in enumerate(patches):
        cp = pts[patch].reshape(4, 4, 3)
        surf = np.einsum("ui,vj,ijk->uvk", b, b, cp).reshape(-1, 3)
        off = i * m * m
        all_pts.append(surf)
        all_tris.append(np.concatenate([quads[:, [0, 1, 2]], quads[:, [0, 2, 3]]]) + off)
    verts = np.concatenate(all_pts)
    tris = np.concatenate(all_tris)

    # Weld: points that patches share are computed from the same control points, so they agree to
    # rounding error; a 1e-7 grid merges them.
    key = np.round(verts / 1e-7).astype(np.int64)
    _, first, inverse = np.unique(key, axis=0, return_index=True, return_inverse=True)
    verts = verts[first]
    tris = inverse.reshape(-1)[tris]

    # Drop faces that collapse (poles of the lid knob and the bottom, where a patch row is one point).
    distinct = (tris[:, 0] != tris[:, 1]) & (tris[:, 1] != tris[:, 2]) & (tris[:, 0] != tris[:, 2])
    tris = tris[distinct]
    t = verts[tris]
    area = 0.5 * np.linalg.norm(np.cross(t[:, 1] - t[:, 0], t[:, 2] - t[:, 0]), axis=1)
    tris = tris[area > 1e-12]
    used = np.unique(tris)
    remap = np.full(len(verts), -1, dtype=np.int64)
    remap[used] = np.arange(len(used))
    verts, tris = verts[used], remap[tris]
    return verts.astype(np.float64), _orient(verts, tris).astype(np.int64)


def footprint_half_height(verts: np.ndarray) -> float:
    """Half-height of a mesh normalised as the renderer does (xy bounding-box centre, footprint radius
    1): the value :data:`spelke.synth.scene.SHAPE_HALF_HEIGHT` records for the teapot."""
    xy = verts[:, :2] - (verts[:, :2].max(0) + verts[:, :2].min(0)) / 2
    r = np.sqrt((xy**2).sum(1)).max()
    return float((verts[:, 2].max() - verts[:, 2].min()) / 2 / r)
