"""``python -m bench [profile|scale|all]``: run the benchmarks, print the figures, save JSON + PNG."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from bench.common import ROOT


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="Speed and scale benchmarks; figures are medians of several runs.",
    )
    parser.add_argument("what", nargs="?", default="all", choices=["profile", "scale", "all"])
    parser.add_argument(
        "--out",
        type=Path,
        default=ROOT / "bench" / "results",
        help="folder for profile.json/.png and scale.json/.png",
    )
    parser.add_argument("--runs", type=int, default=5, help="runs (passes) per figure")
    parser.add_argument("--build-runs", type=int, default=3, help="index builds per encoder")
    parser.add_argument(
        "--sizes",
        default="1000,10000,100000",
        help="scale: corpus sizes in chunks, comma-separated",
    )
    parser.add_argument("--queries", type=int, default=200, help="scale: queries per size")
    parser.add_argument(
        "--real-at",
        type=int,
        default=1000,
        help="scale: corpus size for the real-encoder build (0 = skip)",
    )
    parser.add_argument(
        "--no-baseline",
        action="store_true",
        help="profile: skip the sentence-transformers baseline",
    )
    args = parser.parse_args(argv)
    if args.runs < 1 or args.build_runs < 1:
        parser.error("--runs and --build-runs must be at least 1")
    try:
        sizes = tuple(int(s) for s in args.sizes.split(",") if s.strip())
    except ValueError:
        parser.error(f"--sizes {args.sizes!r}: give chunk counts like 1000,10000")
    if not sizes or min(sizes) < 20:
        parser.error("--sizes: give at least one size of 20 chunks or more")

    if args.what in ("profile", "all"):
        from bench import profile

        encoders = ("onnx",) if args.no_baseline else ("onnx", "torch")
        result = profile.run(args.out, args.runs, args.build_runs, encoders)
        print("\n".join(profile.summary_lines(result)))
        print(f"-> {args.out / 'profile.json'}, {args.out / 'profile.png'}")
    if args.what in ("scale", "all"):
        from bench import scale

        result = scale.run(args.out, sizes, args.runs, args.queries, args.real_at or None)
        print("\n".join(scale.summary_lines(result)))
        print(f"-> {args.out / 'scale.json'}, {args.out / 'scale.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
