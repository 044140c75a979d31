"""`evrt dataset SCENE OUT`: simulate a dataset once into HDF5 (events + labels or ground-truth depth)."""

from __future__ import annotations

import argparse
import sys


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("dataset", help="write a simulated dataset (digits_saccades, depth_scene) to HDF5",
                       description="Simulate a scene's samples once and store them (HDF5 via h5py), "
                                   "so training reads files instead of re-simulating every epoch. "
                                   "Read back with evrt.sources.synthetic.store.StoredDataset.")
    p.add_argument("scene", choices=["digits_saccades", "depth_scene"])
    p.add_argument("out", help="output file (.h5)")
    p.add_argument("--samples", type=int, default=0,
                   help="number of samples (default: the whole split for digits, 10 depth clips)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--split", choices=["train", "test", "all"], default="train",
                   help="digits_saccades: which fixed split")
    p.add_argument("--duration", type=float, default=1.0, help="depth_scene: seconds per clip")
    p.add_argument("--width", type=int, default=346, help="depth_scene: sensor width")
    p.add_argument("--height", type=int, default=260, help="depth_scene: sensor height")
    p.add_argument("--depth-rate", type=float, default=20.0, help="depth_scene: depth maps per second")
    p.add_argument("--quiet", action="store_true", help="no progress line")
    p.add_argument("--no-preview", action="store_true",
                   help="do not write OUT.png (events of the first samples, and depth maps)")
    p.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    from evrt.sources.synthetic.store import write_dataset, write_preview

    summary = write_dataset(args.scene, args.out, samples=args.samples, seed=args.seed,
                            split=args.split, duration=args.duration, width=args.width,
                            height=args.height, depth_rate=args.depth_rate,
                            progress=not args.quiet)
    print(f"wrote {summary['samples']} samples, {summary['events']} events to {summary['path']} "
          f"in {summary['seconds']:.1f} s", file=sys.stderr)
    if not args.no_preview:
        png = write_preview(args.out, args.out + ".png")
        print(f"preview: {png}", file=sys.stderr)
    return 0
