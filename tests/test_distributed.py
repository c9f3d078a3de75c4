"""Data-parallel training: 2 gloo ranks on the CPU equal one process with the same global batch."""
import csv
import os
import socket
import sys
from pathlib import Path

import pytest
import torch
import torch.multiprocessing as mp

from hypernet_ext.errors import InvalidOptionError
from hypernet_ext.training.distributed import Ranks

sys.path.insert(0, str(Path(__file__).parent))
from helpers_training import make_dataset, make_hypernetwork, make_options, state  # noqa: E402

STEPS = 3


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _options(tmp, source, data_dir, log):
    # SGD: its update is linear in the gradient, so the ranks' averaged gradient must give the same
    # weights to float tolerance (AdamW would amplify summation-order noise where a gradient is ~0)
    return make_options(tmp, source, data_dir, steps=STEPS, log=log, data={"batch_size": 2}, save_every=2,
                        preview_every=0, grad_accum=2, optimizer="SGD", learning_rate="5")


def _rank_main(rank, world, port, tmp, source, data_dir, results):
    import torch.distributed as dist

    from hypernet_ext.standalone import load_host
    from hypernet_ext.training.distributed import Ranks, train_distributed

    torch.set_num_threads(1)
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=world)
    try:
        result = train_distributed(load_host("tiny"), _options(Path(tmp), source, data_dir, "ddp"), None,
                                   Ranks(rank, world, rank))
        results[rank] = (str(result.final_path) if result.final_path else None,
                         [str(p) for p in result.checkpoints], result.stopped)
    finally:
        dist.destroy_process_group()


def test_two_gloo_ranks_equal_single_process_and_only_rank0_writes(tmp_path):
    from hypernet_ext.standalone import load_host
    from hypernet_ext.training.distributed import train_distributed

    data_dir = make_dataset(tmp_path / "data", count=4)
    source = make_hypernetwork(tmp_path, sizes=(768, 32, 64, 128), layer_structure=(1, 0.25, 1))
    single = train_distributed(load_host("tiny"), _options(tmp_path, source, data_dir, "single"))

    results = mp.Manager().dict()
    mp.spawn(_rank_main, args=(2, _free_port(), str(tmp_path), str(source), str(data_dir), results), nprocs=2)

    final, checkpoints, stopped = results[0]
    assert stopped == "finished" and results[1] == (None, [], "finished")  # rank 1 saved nothing
    a, b, start = state(single.final_path), state(Path(final)), state(source)
    for key in a:
        torch.testing.assert_close(b[key], a[key], rtol=1e-5, atol=1e-7)
    change = sum(float((a[k] - start[k]).abs().sum()) for k in a)
    distance = sum(float((a[k] - b[k]).abs().sum()) for k in a)
    assert distance < 1e-4 * change, (distance, change)
    log_dir = tmp_path / "ddp"
    assert sorted(p.name for p in (log_dir / "hypernetworks").iterdir() if p.suffix == ".pt") == \
        sorted(Path(p).name for p in checkpoints)
    with open(log_dir / "loss.csv") as f:
        rows = list(csv.DictReader(f))
    assert [int(r["step"]) for r in rows] == list(range(1, STEPS + 1))  # one writer: no duplicate rows
    single_rows = list(csv.DictReader(open(tmp_path / "single" / "loss.csv")))
    for mine, theirs in zip(rows, single_rows):
        assert abs(float(mine["loss"]) - float(theirs["loss"])) < 1e-5


def test_global_batch_must_split_evenly():
    assert Ranks(1, 2, 1).rows(4) == slice(2, 4)
    with pytest.raises(InvalidOptionError, match="multiple of 3"):
        Ranks(0, 3, 0).rows(4)
