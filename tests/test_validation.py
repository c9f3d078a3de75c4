"""Validation loss (training/validation.py): deterministic, blind to training-side randomness, early stop."""
import dataclasses

import pytest
import torch

from hypernet_ext.errors import InvalidOptionError
from hypernet_ext.standalone import load_host
from hypernet_ext.storage import load_hypernetwork
from hypernet_ext.training.command import add_arguments, options_from_args
from hypernet_ext.training.data import DataOptions
from hypernet_ext.training.trainer import train_hypernetwork
from hypernet_ext.training.validation import (ValidationLog, ValidationSet, build_training_data,
                                              evaluate_hypernetwork, evenly_spread_timesteps, held_out_sources,
                                              read_validation_csv, validation_loss_for)

from helpers_training import make_dataset, make_hypernetwork, make_options


@pytest.fixture(scope="module")
def host():
    return load_host("tiny")


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    root = tmp_path_factory.mktemp("validation")
    return make_dataset(root / "data", count=4), make_dataset(root / "val", count=2), root


def test_same_value_whatever_the_training_side_randomness(host, folders):
    data, val, root = folders
    hn = load_hypernetwork(make_hypernetwork(root, "drop", dropout=(0, 0.5, 0)))
    plain = DataOptions(str(data), "hn", width=64, height=64, template="style_filewords")
    noisy = dataclasses.replace(plain, flip=True, shuffle_tags=True, tag_dropout=0.5, seed=7,
                                latent_sampling="random", batch_size=2)
    values = []
    for options in (plain, noisy, plain):
        vset = ValidationSet(host, options, folder=str(val))
        hn.train()  # dropout active in training mode: the evaluation must switch it off
        torch.manual_seed(len(values))  # a different global RNG state every time
        values.append(evaluate_hypernetwork(host, hn, vset))
        assert hn.training  # left as it was
    assert values[0] == values[1] == values[2]


def test_moves_only_when_the_network_does(host, folders):
    data, val, root = folders
    hn = load_hypernetwork(make_hypernetwork(root, "moves"))
    vset = ValidationSet(host, DataOptions(str(data), "hn", width=64, height=64), folder=str(val))
    first, again = evaluate_hypernetwork(host, hn, vset), evaluate_hypernetwork(host, hn, vset)
    assert first == again
    with torch.no_grad():
        next(hn.parameters()).add_(0.05)
    assert evaluate_hypernetwork(host, hn, vset) != first
    assert evaluate_hypernetwork(host, None, vset) != first  # the bare model is measured too
    assert len(vset) == 2 and vset.samples[0].timesteps.tolist() == evenly_spread_timesteps(
        int(host.alphas_cumprod.shape[0])).tolist()


def test_evenly_spread_timesteps():
    assert evenly_spread_timesteps(1000, 4).tolist() == [125, 375, 625, 875]
    assert evenly_spread_timesteps(3, 8).tolist() == [0, 1, 2]


def test_split_is_chosen_by_the_seed_and_removed_from_training(host, folders):
    data, _, root = folders
    options = make_options(root, make_hypernetwork(root, "split"), data, validation_split=0.5)
    held = held_out_sources(options.data, 0.5)
    assert len(held) == 2 and held == held_out_sources(options.data, 0.5)
    others = {frozenset(held_out_sources(dataclasses.replace(options.data, seed=s), 0.5)) for s in range(8)}
    assert len(others) > 1  # the seed picks them
    training = build_training_data(host, options)
    assert len(training) == 2
    assert not held & {training.batch(i).sources[0] for i in range(8)}
    assert held_out_sources(options.data, 0.01) and len(held_out_sources(options.data, 0.99)) == 3


def test_bad_validation_options_are_named(folders, tmp_path):
    data, val, root = folders
    source = make_hypernetwork(tmp_path)
    cases = [(dict(validation_split=1.0), "validation_split"),
             (dict(validation_split=0.2, validation_dir=str(val)), "not both"),
             (dict(validation_dir=str(tmp_path / "nope")), "validation_dir"),
             (dict(early_stop=3), "early_stop"), (dict(validation_every=-1), "validation_every")]
    for kwargs, words in cases:
        with pytest.raises(InvalidOptionError, match=words):
            make_options(tmp_path, source, data, **kwargs).validate()


def test_log_tracks_best_and_drops_rows_after_a_resume_point(tmp_path):
    log = ValidationLog(tmp_path, early_stop=2)
    assert log.add(0, 1.0) and log.add(10, 0.5, "a-10.pt") and not log.add(20, 0.6)
    assert not log.should_stop()
    assert not log.add(30, float("nan")) and log.should_stop() and log.best.step == 10
    lines = (tmp_path / "validation.csv").read_text().splitlines()
    assert lines[0] == "step,val_loss,best_step,best_val_loss,checkpoint"
    assert lines[3].startswith("20,0.6,10,0.5,")
    resumed = ValidationLog(tmp_path, start_step=10, early_stop=2)
    assert [r.step for r in resumed.rows] == [0, 10] and resumed.best.step == 10 and not resumed.should_stop()
    run = tmp_path / "run"
    (run / "hypernetworks").mkdir(parents=True)
    ValidationLog(run).add(10, 0.25, str(run / "hypernetworks" / "hn-10.pt"))
    assert validation_loss_for(run / "hypernetworks" / "hn-10.pt") == 0.25
    assert validation_loss_for(run / "hypernetworks" / "hn-20.pt") is None


def test_identical_runs_identical_curves_and_early_stop_keeps_the_best(host, folders, tmp_path):
    data, val, _ = folders
    source = make_hypernetwork(tmp_path)
    curves = []
    for log in ("one", "two"):
        # A learning rate this high makes the held-out loss worse than the start, so training stops.
        options = make_options(tmp_path, source, data, steps=6, log=log, learning_rate="3e-1", save_every=2,
                               validation_dir=str(val), early_stop=2, data=dict(flip=True, shuffle_tags=True))
        result = train_hypernetwork(host, options)
        rows = read_validation_csv(tmp_path / log / "validation.csv")
        curves.append([(r.step, r.val_loss) for r in rows])
        best = min(rows, key=lambda r: r.val_loss)
        assert result.stopped == "early-stopped" and result.step == 4
        assert [r.step for r in rows] == [0, 2, 4]
        assert str(result.final_path) == best.checkpoint and "Kept the best checkpoint" in result.message
    assert curves[0] == curves[1]


def test_cli_flags(tmp_path):
    import argparse
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    args = parser.parse_args(["--model", "tiny", "--hypernetwork", "h.pt", "--data", "d", "--log-dir", "l",
                              "--steps", "4", "--validation-split", "0.2", "--validation-every", "5",
                              "--early-stop", "3"])
    options = options_from_args(args, "h")
    assert (options.validation_split, options.validation_dir, options.validation_every, options.early_stop) == \
        (0.2, "", 5, 3)
