"""Plot of an `evrt eval depth --json` result: SNN mean depth error per timestep vs the ANN twin.

    .venv/bin/python benchmarks/depth_report_plot.py runs/eval_test.json docs/depth_steps.png
"""

from __future__ import annotations

import json
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def main(src: str, dst: str) -> int:
    results = json.loads(open(src).read())
    fig, ax = plt.subplots(figsize=(5, 3.2))
    const = None
    for r in results.values():
        const = r["constant_median_metrics"]["all"]["mean_abs"]
        if r["model"] == "snn":
            steps = r["mean_abs_per_step"]
            ax.plot(range(1, len(steps) + 1), steps, "o-", label="SNN after step t")
            if "early_stop" in r:
                es = r["early_stop"]
                ax.plot([es["mean_steps"]], [es["metrics"]["all"]["mean_abs"]], "s",
                        label=f"SNN early stop (tol {es['tolerance']})")
        else:
            ax.axhline(r["metrics"]["all"]["mean_abs"], color="C2", ls="--", label="ANN twin")
    if const is not None:
        ax.axhline(const, color="gray", ls=":", label="constant (gt median)")
    ax.set_xlabel("timesteps")
    ax.set_ylabel("mean abs depth error (m)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(dst, dpi=110)
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:3]))
