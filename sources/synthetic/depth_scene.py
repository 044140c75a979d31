"""A camera moving through textured planes and objects at known depth: events + ground-truth depth.

World: x right, y down, z forward (metres). A floor plane, two side walls, a far back
wall, upright textured boards and spheres, laid out at random from (seed, scene). Textures
are scikit-learn's sample photographs (china.jpg, flower.jpg) and procedural ones
(checkerboard, value noise, bricks, stripes). A pinhole camera (346x260 like the DAVIS346)
moves forward with lateral sway and small yaw/pitch oscillations. Rendering is one
vectorised ray cast per frame: each ray is (x, y, 1) in the camera frame, so the ray
parameter of the nearest hit is the depth (camera-frame z) directly; NaN where the ray
hits nothing (sky).

The event simulator samples the renderer with a step from an optic-flow bound (at most
`max_px_per_step` pixels of image motion between samples) so fast motion does not alias.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from evrt.sources.synthetic.simulator import EventSimulator, join_events, simulate_render
from numba import njit

from evrt.errors import ConfigError
from evrt.events import EventPacket, Geometry
from evrt.graph.node import Source
from evrt.messages import Frame, TensorMsg

DEFAULT_SIM = dict(contrast_on=0.2, contrast_off=0.2, sigma=0.03, refractory_us=100.0,
                   shot_noise_rate=0.1, leak_rate=0.05)
SKY = 0.75  # intensity where rays hit nothing


# ------------------------------------------------------------------ textures

def _blur(a: np.ndarray, sigma: float) -> np.ndarray:
    from scipy.ndimage import gaussian_filter

    return gaussian_filter(a, sigma, mode="wrap")


@functools.lru_cache(maxsize=1)
def textures() -> tuple[tuple[str, np.ndarray], ...]:
    """(name, float32 [h, w] in [0, 1]) for every texture: the photographs, then procedural ones."""
    from sklearn.datasets import load_sample_images

    photos = load_sample_images()
    out = []
    for path, img in zip(photos.filenames, photos.images, strict=True):
        gray = img.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32) / 255.0
        name = path.replace("\\", "/").rsplit("/", 1)[-1].split(".")[0]
        out.append((name, _blur(gray, 0.7).astype(np.float32)))
    n = 256
    yy, xx = np.mgrid[0:n, 0:n]
    checker = (((xx // 32) + (yy // 32)) % 2).astype(np.float32) * 0.7 + 0.15
    out.append(("checker", _blur(checker, 1.0).astype(np.float32)))
    rng = np.random.default_rng(1234)  # fixed: the textures are part of the scene definition
    noise = np.zeros((n, n))
    for octave in range(1, 6):
        cells = 2 ** (octave + 1)
        coarse = rng.random((cells, cells))
        noise += np.kron(coarse, np.ones((n // cells, n // cells))) / 2 ** octave
    noise = _blur(noise, 2.0)
    noise = (noise - noise.min()) / (noise.max() - noise.min())
    out.append(("noise", (0.1 + 0.8 * noise).astype(np.float32)))
    brick = np.full((n, n), 0.65)
    row = yy // 32
    brick[(yy % 32) < 4] = 0.2
    brick[((xx + 32 * (row % 2)) % 64) < 4] = 0.2
    out.append(("bricks", _blur(brick, 1.0).astype(np.float32)))
    stripes = 0.5 + 0.35 * np.sin(2 * np.pi * xx / 24.0)
    out.append(("stripes", stripes.astype(np.float32)))
    return tuple(out)


def sample_texture(tex: np.ndarray, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Bilinear lookup at texel coordinates (u along width, v along height), wrapping."""
    h, w = tex.shape
    u0 = np.floor(u)
    v0 = np.floor(v)
    fu = u - u0
    fv = v - v0
    x0 = u0.astype(np.int64) % w
    y0 = v0.astype(np.int64) % h
    x1 = (x0 + 1) % w
    y1 = (y0 + 1) % h
    top = tex[y0, x0] * (1 - fu) + tex[y0, x1] * fu
    bottom = tex[y1, x0] * (1 - fu) + tex[y1, x1] * fu
    return top * (1 - fv) + bottom * fv


MIP_LEVELS = 7


@functools.lru_cache(maxsize=1)
def texture_pyramids() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Every texture's mip pyramid packed flat: (texels, offsets [T, L], heights [T, L], widths [T, L])."""
    parts, offs, hs, ws = [], [], [], []
    pos = 0
    for _, tex in textures():
        row_o, row_h, row_w = [], [], []
        for level in range(MIP_LEVELS):
            step = 1 << level
            img = tex if level == 0 else _blur(tex.astype(np.float64), 0.5 * step)[::step, ::step]
            parts.append(np.ascontiguousarray(img, np.float64).ravel())
            row_o.append(pos)
            row_h.append(img.shape[0])
            row_w.append(img.shape[1])
            pos += img.size
        offs.append(row_o)
        hs.append(row_h)
        ws.append(row_w)
    return (np.concatenate(parts), np.array(offs, np.int64), np.array(hs, np.int64),
            np.array(ws, np.int64))


KIND_CODES = {"plane_x": 0, "plane_y": 1, "plane_z": 2, "board": 3, "sphere": 4}


@njit(cache=True, nogil=True)
def _texel(tex, off, th, tw, u, v):
    """Bilinear, wrapping lookup in texture stored flat at `off` with shape (th, tw)."""
    u0 = np.floor(u)
    v0 = np.floor(v)
    fu = u - u0
    fv = v - v0
    x0 = int(u0) % tw
    y0 = int(v0) % th
    x1 = (x0 + 1) % tw
    y1 = (y0 + 1) % th
    a = tex[off + y0 * tw + x0] * (1 - fu) + tex[off + y0 * tw + x1] * fu
    b = tex[off + y1 * tw + x0] * (1 - fu) + tex[off + y1 * tw + x1] * fu
    return a * (1 - fv) + b * fv


@njit(cache=True, nogil=True)
def _mip_texel(tex, offs, hs, ws, t, u, v, footprint):
    """Trilinear lookup: blend the two pyramid levels around log2(texels per pixel)."""
    levels = offs.shape[1]
    lod = np.log2(footprint) if footprint > 1.0 else 0.0
    if lod > levels - 1:
        lod = levels - 1.0
    l0 = int(lod)
    l1 = min(l0 + 1, levels - 1)
    f = lod - l0
    s0 = 1.0 / (1 << l0)
    a = _texel(tex, offs[t, l0], hs[t, l0], ws[t, l0], u * s0, v * s0)
    if f == 0.0 or l1 == l0:
        return a
    s1 = 1.0 / (1 << l1)
    b = _texel(tex, offs[t, l1], hs[t, l1], ws[t, l1], u * s1, v * s1)
    return a * (1 - f) + b * f


@njit(cache=True, nogil=True)
def _raycast(rays, rot, o, kinds, params, tex_id, albedo, tpm, tex, tex_off, tex_h, tex_w,
             focal, sky, out_int, out_depth):
    """Nearest hit per pixel over all primitives; writes intensity and depth (NaN on a miss).

    params per primitive: [offset, x0, x1, y0, y1, cx, cy, cz, radius]; walls (plane_x,
    plane_z) end at height y0 (above it: sky). Rays have z = 1 in the camera frame, so the
    hit parameter is the camera-frame depth. Textures are mip-mapped by the pixel's texel
    footprint (depth, focal length, obliquity) so distant texture does not alias into noise.
    """
    n = rays.shape[0]
    for i in range(n):
        rx, ry, rz = rays[i, 0], rays[i, 1], rays[i, 2]
        dx = rot[0, 0] * rx + rot[0, 1] * ry + rot[0, 2] * rz
        dy = rot[1, 0] * rx + rot[1, 1] * ry + rot[1, 2] * rz
        dz = rot[2, 0] * rx + rot[2, 1] * ry + rot[2, 2] * rz
        best = np.inf
        owner = -1
        for k in range(kinds.shape[0]):
            kind = kinds[k]
            s = np.inf
            if kind <= 3:
                axis = 2 if kind == 3 else kind
                dd = dx if axis == 0 else (dy if axis == 1 else dz)
                oo = o[axis]
                if dd != 0.0:
                    s = (params[k, 0] - oo) / dd
                if kind == 3 and s < np.inf:
                    x = o[0] + s * dx
                    y = o[1] + s * dy
                    if x < params[k, 1] or x > params[k, 2] or y < params[k, 3] or y > params[k, 4]:
                        s = np.inf
                elif kind != 1 and s < np.inf and o[1] + s * dy < params[k, 3]:
                    s = np.inf
            else:
                ox = o[0] - params[k, 5]
                oy = o[1] - params[k, 6]
                oz = o[2] - params[k, 7]
                a = dx * dx + dy * dy + dz * dz
                b = 2.0 * (dx * ox + dy * oy + dz * oz)
                c = ox * ox + oy * oy + oz * oz - params[k, 8] ** 2
                disc = b * b - 4.0 * a * c
                if disc >= 0.0:
                    s = (-b - np.sqrt(disc)) / (2.0 * a)
            if s > 1e-3 and s < best:
                best = s
                owner = k
        if owner < 0:
            out_int[i] = sky
            out_depth[i] = np.nan
            continue
        px = o[0] + best * dx
        py = o[1] + best * dy
        pz = o[2] + best * dz
        kind = kinds[owner]
        m = tpm[owner]
        norm = np.sqrt(dx * dx + dy * dy + dz * dz)
        if kind == 0:
            u, v = pz * m, py * m
            cos = abs(dx) / norm
        elif kind == 1:
            u, v = px * m, pz * m
            cos = abs(dy) / norm
        elif kind == 2:
            u, v = px * m, py * m
            cos = abs(dz) / norm
        elif kind == 3:
            u, v = (px - params[owner, 1]) * m, (py - params[owner, 3]) * m
            cos = abs(dz) / norm
        else:
            qx = px - params[owner, 5]
            qy = py - params[owner, 6]
            qz = pz - params[owner, 7]
            r = params[owner, 8]
            u = np.arctan2(qx, qz) * r * m
            v = np.arcsin(min(max(qy / r, -1.0), 1.0)) * r * m
            cos = abs(dx * qx + dy * qy + dz * qz) / (norm * r)
        footprint = best * norm * m / (focal * max(cos, 0.05))  # texels under one pixel
        t = tex_id[owner]
        out_int[i] = albedo[owner] * _mip_texel(tex, tex_off, tex_h, tex_w, t, u, v, footprint)
        out_depth[i] = best


# ------------------------------------------------------------------ geometry

@dataclass
class Primitive:
    """One textured surface. kind: plane_x / plane_y / plane_z (infinite), board (bounded z-plane), sphere."""

    kind: str
    texture: int
    albedo: float
    texels_per_m: float
    offset: float = 0.0  # plane position along its axis
    bounds: tuple[float, float, float, float] = (0, 0, -1e9, 0)  # board: x0, x1, y0, y1; walls: top y0
    centre: tuple[float, float, float] = (0, 0, 0)
    radius: float = 0.0

    def hit(self, o: np.ndarray, d: np.ndarray) -> np.ndarray:
        """Ray parameter of the hit for every ray (inf where it misses or is behind)."""
        with np.errstate(divide="ignore", invalid="ignore"):
            if self.kind in ("plane_x", "plane_y", "plane_z", "board"):
                axis = {"plane_x": 0, "plane_y": 1, "plane_z": 2, "board": 2}[self.kind]
                s = (self.offset - o[axis]) / d[:, axis]
                if self.kind == "board":
                    x = o[0] + s * d[:, 0]
                    y = o[1] + s * d[:, 1]
                    x0, x1, y0, y1 = self.bounds
                    s = np.where((x >= x0) & (x <= x1) & (y >= y0) & (y <= y1), s, np.inf)
                elif self.kind != "plane_y":  # walls end at height bounds[2] (y0)
                    s = np.where(o[1] + s * d[:, 1] >= self.bounds[2], s, np.inf)
            else:  # sphere: |o + s d - c|^2 = r^2
                oc = o - np.asarray(self.centre)
                a = np.einsum("ij,ij->i", d, d)
                b = 2 * d @ oc
                c = oc @ oc - self.radius**2
                disc = b * b - 4 * a * c
                s = (-b - np.sqrt(disc)) / (2 * a)
                s = np.where(disc >= 0, s, np.inf)
        return np.where(np.isfinite(s) & (s > 1e-3), s, np.inf)

    def uv(self, p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Texel coordinates of surface points p [N, 3]."""
        k = self.texels_per_m
        if self.kind == "plane_x":
            return p[:, 2] * k, p[:, 1] * k
        if self.kind == "plane_y":
            return p[:, 0] * k, p[:, 2] * k
        if self.kind == "plane_z":
            return p[:, 0] * k, p[:, 1] * k
        if self.kind == "board":
            x0, _, y0, _ = self.bounds
            return (p[:, 0] - x0) * k, (p[:, 1] - y0) * k
        q = p - np.asarray(self.centre)
        lon = np.arctan2(q[:, 0], q[:, 2])
        lat = np.arcsin(np.clip(q[:, 1] / self.radius, -1, 1))
        return lon * self.radius * k, lat * self.radius * k


@dataclass
class Trajectory:
    """Forward motion with lateral/vertical sway and yaw/pitch oscillation (smooth, bounded speed)."""

    forward: float = 0.6  # m/s
    sway: tuple[float, float, float] = (0.3, 0.5, 0.0)  # amplitude m, frequency Hz, phase
    bob: tuple[float, float, float] = (0.05, 0.8, 0.0)
    yaw: tuple[float, float, float] = (0.08, 0.3, 0.0)  # rad, Hz, phase
    pitch: tuple[float, float, float] = (0.03, 0.4, 0.0)

    def pose(self, t_s: float) -> tuple[np.ndarray, np.ndarray]:
        """(R world-from-camera, position) at time t (s)."""
        def osc(a: tuple[float, float, float]) -> float:
            return a[0] * np.sin(2 * np.pi * a[1] * t_s + a[2])

        pos = np.array([osc(self.sway), osc(self.bob), self.forward * t_s])
        cy, sy = np.cos(osc(self.yaw)), np.sin(osc(self.yaw))
        cp, sp = np.cos(osc(self.pitch)), np.sin(osc(self.pitch))
        ry = np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]])
        rx = np.array([[1, 0, 0], [0, cp, -sp], [0, sp, cp]])
        return ry @ rx, pos

    def max_speed(self) -> tuple[float, float, float]:
        """Upper bounds of lateral (x, y) and forward speed (m/s) and angular speed (rad/s)."""
        def rate(a: tuple[float, float, float]) -> float:
            return 2 * np.pi * a[0] * a[1]

        lateral = float(np.hypot(rate(self.sway), rate(self.bob)))
        return lateral, abs(self.forward), rate(self.yaw) + rate(self.pitch)


@dataclass
class Scene:
    """Primitives, a trajectory and camera intrinsics; `render(t_us)` -> (intensity, depth)."""

    primitives: list[Primitive]
    trajectory: Trajectory
    geometry: Geometry
    focal: float
    meta: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        w, h = self.geometry.width, self.geometry.height
        self.cx, self.cy = (w - 1) / 2, (h - 1) / 2
        v, u = np.mgrid[0:h, 0:w].astype(np.float64)
        self.rays = np.ascontiguousarray(np.stack(
            [(u - self.cx) / self.focal, (v - self.cy) / self.focal, np.ones_like(u)],
            axis=-1).reshape(-1, 3))
        self.tex_flat, self.tex_off, self.tex_h, self.tex_w = texture_pyramids()
        prims = self.primitives
        self.kinds = np.array([KIND_CODES[p.kind] for p in prims], np.int64)
        self.params = np.array([[p.offset, *p.bounds, *p.centre, p.radius] for p in prims], np.float64)
        self.tex_id = np.array([p.texture for p in prims], np.int64)
        self.albedo = np.array([p.albedo for p in prims], np.float64)
        self.tpm = np.array([p.texels_per_m for p in prims], np.float64)
        self.last_depth: np.ndarray | None = None

    def intrinsics(self) -> dict:
        return {"fx": self.focal, "fy": self.focal, "cx": self.cx, "cy": self.cy,
                "width": self.geometry.width, "height": self.geometry.height}

    def render(self, t_us: int) -> tuple[np.ndarray, np.ndarray]:
        """Intensity in [0, 1] and depth in metres (NaN where nothing is hit), both [H, W]."""
        rot, o = self.trajectory.pose(t_us / 1e6)
        n = self.rays.shape[0]
        intensity = np.empty(n)
        depth = np.empty(n)
        _raycast(self.rays, np.ascontiguousarray(rot), o, self.kinds, self.params, self.tex_id,
                 self.albedo, self.tpm, self.tex_flat, self.tex_off, self.tex_h, self.tex_w,
                 float(self.focal), SKY, intensity, depth)
        shape = self.geometry.shape
        self.last_depth = depth.astype(np.float32).reshape(shape)
        return intensity.reshape(shape), self.last_depth

    def render_numpy(self, t_us: int) -> tuple[np.ndarray, np.ndarray]:
        """The same image with numpy only (slower): a cross-check of the numba ray caster."""
        rot, o = self.trajectory.pose(t_us / 1e6)
        d = self.rays @ rot.T
        best = np.full(d.shape[0], np.inf)
        owner = np.full(d.shape[0], -1, np.int64)
        for k, prim in enumerate(self.primitives):
            s = prim.hit(o, d)
            closer = s < best
            best[closer] = s[closer]
            owner[closer] = k
        intensity = np.full(d.shape[0], SKY)
        tex = textures()
        for k, prim in enumerate(self.primitives):
            m = np.flatnonzero(owner == k)
            if m.size:
                u, v = prim.uv(o + best[m, None] * d[m])
                intensity[m] = prim.albedo * sample_texture(tex[prim.texture][1], u, v)
        depth = np.where(np.isfinite(best), best, np.nan).astype(np.float32)
        return intensity.reshape(self.geometry.shape), depth.reshape(self.geometry.shape)

    def image(self, t_us: int) -> np.ndarray:
        return self.render(t_us)[0]

    def step_us(self, max_px: float) -> float:
        """Time for image motion to reach `max_px` pixels, bounded from the last depth map.

        A point at depth Z moves at most (f v_lateral + r v_forward) / Z px/s from
        translation and w (f + r^2 / f) px/s from rotation, r the largest distance from the
        image centre.
        """
        z = self.last_depth
        zmin = float(np.nanmin(z)) if z is not None and np.isfinite(z).any() else 1.0
        lateral, forward, w = self.trajectory.max_speed()
        f = self.focal
        r = float(np.hypot(self.cx + 1, self.cy + 1))
        px_per_s = (f * lateral + r * forward) / max(zmin, 0.3) + w * (f + r * r / f)
        return max_px / px_per_s * 1e6 if px_per_s > 0 else float("inf")


def make_scene(seed: int = 0, scene: int = 0, *, width: int = 346, height: int = 260,
               focal: float = 0.0, duration: float = 2.0) -> Scene:
    """A random layout (textures, boards, spheres, walls, trajectory) from (seed, scene)."""
    rng = np.random.default_rng([seed, scene, 0x5CE1E])
    n_tex = len(textures())
    focal = focal or 0.7 * width
    traj = Trajectory(forward=float(rng.uniform(0.3, 0.8)),
                      sway=(float(rng.uniform(0.1, 0.3)), float(rng.uniform(0.2, 0.5)),
                            float(rng.uniform(0, 2 * np.pi))),
                      bob=(float(rng.uniform(0.0, 0.08)), float(rng.uniform(0.5, 1.0)),
                           float(rng.uniform(0, 2 * np.pi))),
                      yaw=(float(rng.uniform(0.02, 0.12)), float(rng.uniform(0.2, 0.5)),
                           float(rng.uniform(0, 2 * np.pi))),
                      pitch=(float(rng.uniform(0.0, 0.04)), float(rng.uniform(0.2, 0.5)),
                             float(rng.uniform(0, 2 * np.pi))))
    z_travel = traj.forward * duration
    floor_y = float(rng.uniform(1.2, 1.8))
    wall_x = float(rng.uniform(2.5, 5.0))

    def tex() -> int:
        return int(rng.integers(0, n_tex))

    def top() -> tuple[float, float, float, float]:  # walls 2.5-5 m high: sky above
        return (0.0, 0.0, floor_y - float(rng.uniform(2.5, 5.0)), 0.0)

    prims = [
        Primitive("plane_y", tex(), float(rng.uniform(0.5, 0.9)), float(rng.uniform(60, 120)), floor_y),
        Primitive("plane_x", tex(), float(rng.uniform(0.6, 1.0)), float(rng.uniform(40, 100)), -wall_x,
                  top()),
        Primitive("plane_x", tex(), float(rng.uniform(0.6, 1.0)), float(rng.uniform(40, 100)), wall_x,
                  top()),
        Primitive("plane_z", tex(), float(rng.uniform(0.6, 1.0)), float(rng.uniform(20, 40)),
                  z_travel + float(rng.uniform(12, 25)), top()),
    ]
    for _ in range(int(rng.integers(3, 7))):  # boards standing on the floor
        w = float(rng.uniform(0.4, 1.5))
        h = float(rng.uniform(0.5, 2.2))
        x = float(rng.uniform(-wall_x + w / 2, wall_x - w / 2))
        z = z_travel + float(rng.uniform(1.5, 10))
        prims.append(Primitive("board", tex(), float(rng.uniform(0.6, 1.0)),
                               float(rng.uniform(150, 400)), z, (x - w / 2, x + w / 2, floor_y - h, floor_y)))
    for _ in range(int(rng.integers(1, 4))):  # spheres, some floating
        r = float(rng.uniform(0.2, 0.6))
        c = (float(rng.uniform(-wall_x + r, wall_x - r)), float(rng.uniform(-0.5, floor_y - r)),
             z_travel + float(rng.uniform(2, 9)))
        prims.append(Primitive("sphere", tex(), float(rng.uniform(0.6, 1.0)),
                               float(rng.uniform(80, 200)), centre=c, radius=r))
    return Scene(prims, traj, Geometry(width, height), focal,
                 meta={"seed": seed, "scene": scene, "textures": [t[0] for t in textures()]})


# ------------------------------------------------------------------ simulation

def depth_times(duration_us: int, depth_rate: float) -> np.ndarray:
    period = int(round(1e6 / depth_rate))
    return np.arange(0, duration_us + 1, period, dtype=np.int64)


def simulate_scene(scene: Scene, duration_us: int, *, seed: int = 0, depth_rate: float = 20.0,
                   window_us: int = 10_000, max_px_per_step: float = 1.0,
                   sim_params: dict | None = None) -> Iterator[tuple[int, int, np.ndarray, list]]:
    """Yield (a, b, events, samples) window by window over [0, duration].

    Events of a window have a <= t < b, except the last window, which also holds events at
    exactly t = duration. `samples` are the ground truth (t, depth, intensity) with
    a < t <= b (and t = 0 in the first window). The simulation runs in chunks between
    depth times, so the events do not depend on `window_us`.
    """
    if depth_rate <= 0 or window_us <= 0 or duration_us <= 0:
        raise ConfigError("depth_rate, window_us and duration must be > 0")
    sim = EventSimulator(scene.geometry, seed=seed, **{**DEFAULT_SIM, **(sim_params or {})})
    times = depth_times(duration_us, depth_rate)
    wanted = set(times.tolist())
    edges = sorted(wanted | {duration_us})
    pending: list[np.ndarray] = []
    samples: list = []

    def on_sample(t: int, image: np.ndarray) -> None:
        if t in wanted:
            samples.append((t, scene.last_depth.copy(), image.astype(np.float32)))

    def step(t: int, image: np.ndarray | None) -> float:
        return scene.step_us(max_px_per_step)

    win_a = 0
    for c0, c1 in zip(edges[:-1], edges[1:], strict=True):
        pending.append(simulate_render(sim, scene.image, c0, c1, on_sample=on_sample, step_us=step,
                                       dt_min_us=50, dt_max_us=5_000))
        while win_a < duration_us and min(win_a + window_us, duration_us) <= c1:
            win_b = min(win_a + window_us, duration_us)
            buf = join_events(pending)
            cut = buf.shape[0] if win_b == duration_us else int(
                np.searchsorted(buf["t"], win_b, side="left"))
            out = [s for s in samples if s[0] <= win_b]
            samples[:] = [s for s in samples if s[0] > win_b]
            yield win_a, win_b, buf[:cut], out
            pending = [buf[cut:]]
            win_a = win_b


def depth_clip(scene: int = 0, *, seed: int = 0, duration: float = 1.0, depth_rate: float = 20.0,
               width: int = 346, height: int = 260, max_px_per_step: float = 1.0,
               **sim_params: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(events, depth_t [T] µs, depth [T, H, W] metres NaN=empty) of one scene; deterministic in (scene, seed)."""
    s = make_scene(seed, scene, width=width, height=height, duration=duration)
    duration_us = int(round(duration * 1e6))
    parts, ts, maps = [], [], []
    for _a, _b, ev, samples in simulate_scene(s, duration_us, seed=_sim_seed(seed, scene),
                                              depth_rate=depth_rate, max_px_per_step=max_px_per_step,
                                              sim_params=sim_params):
        parts.append(ev)
        for t, depth, _img in samples:
            ts.append(t)
            maps.append(depth)
    return join_events(parts), np.array(ts, np.int64), np.stack(maps)


def _sim_seed(seed: int, scene: int) -> int:
    return int(np.random.SeedSequence([seed, scene, 1]).generate_state(1)[0])


class DepthScenes:
    """Dataset of `samples` scene clips: item i -> (events, depth_t, depth) from `depth_clip(i, ...)`."""

    def __init__(self, samples: int = 100, *, seed: int = 0, duration: float = 1.0,
                 depth_rate: float = 20.0, width: int = 346, height: int = 260,
                 transform: Any = None, **sim_params: float) -> None:
        self.samples = samples
        self.kw = dict(seed=seed, duration=duration, depth_rate=depth_rate, width=width,
                       height=height, **sim_params)
        self.transform = transform
        self.geometry = Geometry(width, height)

    def __len__(self) -> int:
        return self.samples

    def __getitem__(self, i: int) -> tuple[Any, np.ndarray, np.ndarray]:
        if not 0 <= i < self.samples:
            raise IndexError(i)
        events, t, depth = depth_clip(int(i), **self.kw)
        return (self.transform(events) if self.transform else events), t, depth


class DepthSceneSource(Source):
    """Events of a camera moving through a textured 3D scene, with ground-truth depth.

    Streams: `events` (EventPacket per `window_us`), `depth` (TensorMsg float32 [H, W],
    metres, NaN where empty, at `depth_rate` Hz, t_start = its time; meta holds the
    intrinsics) and, if `frames`, the rendered intensity as `Frame`s at the same times.
    """

    def __init__(self, *, scene: int = 0, seed: int = 0, duration: float = 2.0,
                 width: int = 346, height: int = 260, depth_rate: float = 20.0,
                 window_us: int = 10_000, frames: bool = True, max_px_per_step: float = 1.0,
                 contrast: float = 0.2, sigma: float = 0.03, refractory_us: float = 100.0,
                 shot_noise_rate: float = 0.1, leak_rate: float = 0.05, speed: float = 0.0,
                 stream: str = "events") -> None:
        if width < 8 or height < 8 or duration <= 0:
            raise ConfigError("width and height must be >= 8 and duration > 0")
        self.scene_index, self.seed = scene, seed
        self.duration_us = int(round(duration * 1e6))
        self.scene = make_scene(seed, scene, width=width, height=height, duration=duration)
        self.depth_rate, self.window_us, self.frames = depth_rate, window_us, frames
        self.max_px_per_step = max_px_per_step
        self.sim_params = dict(contrast_on=contrast, contrast_off=contrast, sigma=sigma,
                               refractory_us=refractory_us, shot_noise_rate=shot_noise_rate,
                               leak_rate=leak_rate)
        self.speed = speed
        self.stream = stream

    def messages(self) -> Iterator[Any]:
        meta = {"units": "m", **self.scene.intrinsics()}
        g = self.scene.geometry
        for a, b, ev, samples in simulate_scene(
                self.scene, self.duration_us, seed=_sim_seed(self.seed, self.scene_index),
                depth_rate=self.depth_rate, window_us=self.window_us,
                max_px_per_step=self.max_px_per_step, sim_params=self.sim_params):
            early = [s for s in samples if s[0] == a]  # the first depth map, before any event
            for t, depth, image in early:
                yield from self._truth(t, depth, image, meta)
            last = b == self.duration_us  # the last window also holds t = duration
            yield EventPacket(ev, g, self.stream, a, b + 1 if last else b)
            for t, depth, image in samples:
                if t != a:
                    yield from self._truth(t, depth, image, meta)

    def _truth(self, t: int, depth: np.ndarray, image: np.ndarray, meta: dict) -> Iterator[Any]:
        yield TensorMsg(depth, "depth", t, t + 1, dict(meta))
        if self.frames:
            yield Frame(image, "frames", t, t + 1)
