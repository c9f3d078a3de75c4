"""Listing every run's checkpoints for "use this checkpoint" versus the Resume panel's listing, side by side.

The Resume panel's listing (`list_checkpoints(run)`) checks each `.optim` sidecar against its
checkpoint, which hashes the checkpoint; the list of checkpoints to use (`run_checkpoints`) skips the
sidecars. Runs of SD1-width hypernetworks (768/320/640/1280, 1x2x1: about 88 MB each) with sidecars
are written to a temporary folder (runs x per-run files: mind the disk), both listings run
interleaved, and the ratio of medians is printed.

Usage: python bench/bench_run_checkpoints.py [--runs 2] [--per-run 5] [--repeats 3]
"""
from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hypernet_ext import create_hypernetwork  # noqa: E402
from hypernet_ext.run_checkpoints import run_checkpoints  # noqa: E402
from hypernet_ext.storage import save_hypernetwork, save_optimizer_state  # noqa: E402
from hypernet_ext.training.run_folder import list_checkpoints, list_runs  # noqa: E402


def write_runs(root: Path, runs: int, per_run: int) -> int:
    proto = save_hypernetwork(create_hypernetwork("style", sizes=(768, 320, 640, 1280), seed=0), root / "proto.pt")
    for r in range(runs):
        folder = root / "runs" / "style" / f"20260101-{r:06d}" / "hypernetworks"
        folder.mkdir(parents=True)
        for step in range(1, per_run + 1):
            path = folder / f"style-{step * 100}.pt"
            shutil.copyfile(proto, path)
            save_optimizer_state(path, "AdamW", {"state": {}, "param_groups": []})
    return proto.stat().st_size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--per-run", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="bench_run_checkpoints_"))
    try:
        size = write_runs(root, args.runs, args.per_run)
        runs_root = root / "runs"
        resume_times, use_times = [], []
        for _ in range(args.repeats):
            start = time.perf_counter()
            resume_count = sum(len(list_checkpoints(run)) for run in list_runs(str(runs_root)))
            resume_times.append(time.perf_counter() - start)
            start = time.perf_counter()
            use_count = len(run_checkpoints(runs_root))
            use_times.append(time.perf_counter() - start)
        assert resume_count == use_count == args.runs * args.per_run
        ratio = statistics.median(resume_times) / statistics.median(use_times)
        print(f"{use_count} checkpoints of {size / 1e6:.0f} MB with .optim sidecars: the Resume listing "
              f"(sidecars checked) takes {ratio:.0f}x the time of the listing for use")
    finally:
        shutil.rmtree(root)


if __name__ == "__main__":
    main()
