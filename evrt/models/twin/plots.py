"""PNG figures of twin evaluations (matplotlib, Agg)."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _slug(label: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in label).strip("_")[:60]


def hp_plots(r, folder: Path, label: str) -> list[Path]:
    """State and current of every drive (true vs twin) and the i-v loops."""
    plt = _plt()
    folder.mkdir(parents=True, exist_ok=True)
    n = len(r.drives)
    fig, axes = plt.subplots(n, 2, figsize=(11, 1.9 * n), squeeze=False)
    for k in range(n):
        ax = axes[k, 0]
        ax.plot(r.t, r.x_true[k], "k-", lw=1.4, label="device")
        ax.plot(r.t, r.x_pred[k], "r--", lw=1.1, label="twin")
        ax.set_ylabel("w/D")
        ax.set_title(f"{r.drives[k][:50]}  NRMSE x {r.nrmse_x[k]:.3f}", fontsize=8)
        ax = axes[k, 1]
        ax.plot(r.v[k], r.i_true[k] * 1e3, "k-", lw=1.2)
        ax.plot(r.v[k], r.i_pred[k] * 1e3, "r--", lw=1.0)
        ax.set_ylabel("i (mA)")
        ax.set_title(f"i-v loop, NRMSE i {r.nrmse_i[k]:.3f}", fontsize=8)
    axes[0, 0].legend(fontsize=7)
    axes[-1, 0].set_xlabel("t (s)")
    axes[-1, 1].set_xlabel("v (V)")
    fig.suptitle(f"HP memristor twin, {label}", fontsize=10)
    fig.tight_layout()
    path = folder / f"hp_twin_{_slug(label)}.png"
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return [path]


def lorenz_plots(r, folder: Path, label: str) -> list[Path]:
    """Hovmoeller diagrams (true, twin, error) of the first initial state and error growth."""
    plt = _plt()
    folder.mkdir(parents=True, exist_ok=True)
    t_lyap = np.arange(r.true.shape[1]) * r.dt * r.lyapunov
    fig, axes = plt.subplots(4, 1, figsize=(9, 9), sharex=True)
    extent = [t_lyap[0], t_lyap[-1], 0, r.true.shape[2]]
    for ax, data, title in ((axes[0], r.true[0], "Lorenz96 (RK4 reference)"),
                            (axes[1], r.pred[0], "twin"),
                            (axes[2], r.pred[0] - r.true[0], "twin - reference")):
        im = ax.imshow(data.T, aspect="auto", origin="lower", extent=extent, cmap="RdBu_r",
                       vmin=-10, vmax=10)
        ax.set_title(title, fontsize=9)
        ax.set_ylabel("site")
    fig.colorbar(im, ax=axes[:3], shrink=0.6)
    sigma = r.true.std()
    err = np.sqrt(np.mean((r.pred - r.true) ** 2, axis=-1)) / sigma
    for e in err:
        axes[3].plot(t_lyap, e, lw=0.8)
    axes[3].axhline(0.5, color="k", ls=":", lw=1)
    axes[3].set_ylabel("normalised error")
    axes[3].set_xlabel("Lyapunov times")
    axes[3].set_title(f"{label}: mean VPT {r.vpt_lyapunov.mean():.2f} Lyapunov times", fontsize=9)
    path = folder / f"lorenz96_twin_{_slug(label)}.png"
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return [path]
