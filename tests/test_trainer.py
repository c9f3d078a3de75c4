"""Trainer on the tiny standalone model (64x64 images): outputs, exact resume, accumulation, guards."""
import csv
import json

import pytest
import torch
from PIL import Image

from hypernet_ext.errors import HypernetError, HypernetworkFileError, InvalidOptionError
from hypernet_ext.progress import Progress
from hypernet_ext.standalone import load_host
from hypernet_ext.storage import load_hypernetwork, load_optimizer_state, short_hash
from hypernet_ext.training.host import PreviewParams
from hypernet_ext.training.trainer import Trainer, train_hypernetwork

from helpers_training import make_dataset, make_hypernetwork, make_options, same_weights, state


@pytest.fixture(scope="module")
def host():
    return load_host("tiny")


@pytest.fixture
def data_dir(tmp_path):
    return make_dataset(tmp_path / "data")


def test_outputs_checkpoints_previews_csv_settings(host, tmp_path, data_dir):
    source = make_hypernetwork(tmp_path)
    source_hash = short_hash(source)
    options = make_options(tmp_path, source, data_dir, steps=4, save_every=2, preview_every=4,
                           preview=PreviewParams("a test prompt", steps=2, width=64, height=64, seed=1))
    result = train_hypernetwork(host, options)
    log = tmp_path / "log"
    assert result.stopped == "finished" and result.step == 4
    assert [p.name for p in result.checkpoints] == ["hn-2.pt", "hn-4.pt"]
    assert result.final_path == log / "hypernetworks" / "hn-4.pt"
    for step in (2, 4):
        path = log / "hypernetworks" / f"hn-{step}.pt"
        assert load_hypernetwork(path).step == step
        sidecar = load_optimizer_state(path)
        assert sidecar.matches and sidecar.optimizer_name == "AdamW"
        assert sidecar.extra["step"] == step and sidecar.extra["seed"] == 0
        assert isinstance(sidecar.extra["torch_rng"], torch.Tensor)
        assert sidecar.extra["schedule"]["kind"] == "schedule" and sidecar.extra["grad_scaler"] is None
        assert sidecar.state_dict["state"]  # AdamW moments are there
    assert Image.open(log / "images" / "hn-4.png").size == (64, 64)
    assert (log / "images" / "hn-4.txt").read_text().startswith("a test prompt")
    assert result.previews == [log / "images" / "hn-4.png"]
    rows = list(csv.DictReader(open(log / "loss.csv")))
    assert [int(r["step"]) for r in rows] == [1, 2, 3, 4]
    assert all(float(r["learn_rate"]) == 1e-3 and float(r["loss"]) > 0 for r in rows)
    assert Image.open(log / "loss.png").format == "PNG"
    settings = json.loads(next(log.glob("settings-*.json")).read_text())
    assert settings["options"]["learning_rate"] == "1e-3" and settings["model_name"] == "tiny"
    assert settings["dataset"]["images"] == 3
    meta = load_hypernetwork(result.final_path).metadata["training"]
    assert meta["base_model"]["name"] == "tiny" and meta["dataset"]["images"] == 3
    assert meta["settings"]["optimizer"] == "AdamW"
    assert short_hash(source) == source_hash and load_hypernetwork(source).step == 0  # source untouched


@pytest.fixture
def one_thread():
    """MKL may change its thread count under load (MKL_DYNAMIC), which changes float summation order;
    one thread keeps CPU results bitwise reproducible."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_exact_resume_is_bitwise_and_checkpoint_holds_its_step(host, tmp_path, data_dir, one_thread):
    kwargs = dict(data={"shuffle_tags": True, "latent_sampling": "random", "flip": True}, save_every=2)
    source = make_hypernetwork(tmp_path, sizes=(768, 32, 64), layer_structure=(1, 0.5, 1), dropout=(0, 0.3, 0))
    straight = train_hypernetwork(host, make_options(tmp_path, source, data_dir, steps=4, log="a", **kwargs))
    first = train_hypernetwork(host, make_options(tmp_path, source, data_dir, steps=2, log="b", **kwargs))
    assert same_weights(state(tmp_path / "a" / "hypernetworks" / "hn-2.pt"), state(first.final_path))
    resumed = train_hypernetwork(host, make_options(tmp_path, first.final_path, data_dir, steps=4, log="b",
                                                    resume=True, **kwargs))
    assert resumed.stopped == "finished" and resumed.final_path.name == "hn-4.pt"
    assert same_weights(state(straight.final_path), state(resumed.final_path))
    assert not same_weights(state(source), state(straight.final_path))
    rows = list(csv.DictReader(open(tmp_path / "b" / "loss.csv")))
    assert [int(r["step"]) for r in rows] == [1, 2, 3, 4]


def test_gradient_accumulation_matches_larger_batch(host, tmp_path):
    data_dir = make_dataset(tmp_path / "same", count=2, identical=True)
    source = make_hypernetwork(tmp_path)
    common = dict(optimizer="SGD", learning_rate="0.1", data_latent="deterministic")
    common.pop("data_latent")
    big = train_hypernetwork(host, make_options(tmp_path, source, data_dir, steps=2, log="big",
                                                data={"batch_size": 2, "latent_sampling": "deterministic"},
                                                **common))
    accum = train_hypernetwork(host, make_options(tmp_path, source, data_dir, steps=2, log="acc", grad_accum=2,
                                                  data={"batch_size": 1, "latent_sampling": "deterministic"},
                                                  **common))
    a, b = state(big.final_path), state(accum.final_path)
    assert not same_weights(a, state(source))
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=1e-4, atol=1e-6)


def test_gradient_checkpointing_gives_the_same_step(host, tmp_path, data_dir):
    source = make_hypernetwork(tmp_path, sizes=(768, 32, 64, 128), layer_structure=(1, 0.25, 1))
    plain = train_hypernetwork(host, make_options(tmp_path, source, data_dir, steps=2, log="p"))
    ckpt = train_hypernetwork(host, make_options(tmp_path, source, data_dir, steps=2, log="c",
                                                 gradient_checkpointing=True))
    a, b = state(plain.final_path), state(ckpt.final_path)
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=1e-4, atol=1e-6)


def test_bf16_autocast_runs_the_unet_in_bf16(host, tmp_path, data_dir):
    seen = []
    first_linear = next(m for m in host.unet.modules() if isinstance(m, torch.nn.Linear))
    handle = first_linear.register_forward_hook(lambda m, i, o: seen.append(o.dtype))
    try:
        result = train_hypernetwork(host, make_options(tmp_path, make_hypernetwork(tmp_path), data_dir, steps=2,
                                                       precision="bf16"))
    finally:
        handle.remove()
    assert result.stopped == "finished"
    assert torch.bfloat16 in seen
    assert load_hypernetwork(result.final_path).dtype == torch.float32


def test_fp16_with_grad_scaler_saves_scaler_state(host, tmp_path, data_dir):
    result = train_hypernetwork(host, make_options(tmp_path, make_hypernetwork(tmp_path), data_dir, steps=2,
                                                   precision="fp16", save_every=2, grad_clip="norm",
                                                   grad_clip_value="1.0"))
    assert result.stopped == "finished"
    assert load_optimizer_state(result.final_path).extra["grad_scaler"]["scale"] > 0


def test_schedule_exhausted_stops_training(host, tmp_path, data_dir):
    result = train_hypernetwork(host, make_options(tmp_path, make_hypernetwork(tmp_path), data_dir, steps=10,
                                                   learning_rate="1e-3:2, 1e-4:3"))
    assert result.stopped == "schedule-finished" and result.step == 3
    assert result.final_path.name == "hn-3.pt"
    rates = [float(r["learn_rate"]) for r in csv.DictReader(open(tmp_path / "log" / "loss.csv"))]
    assert rates == [1e-3, 1e-3, 1e-4]


def test_cosine_schedule_in_the_log(host, tmp_path, data_dir):
    train_hypernetwork(host, make_options(tmp_path, make_hypernetwork(tmp_path), data_dir, steps=4,
                                          lr_scheduler="cosine", cosine_cycle_steps=3, cosine_warmup=1,
                                          cosine_min_lr=1e-5))
    rates = [float(r["learn_rate"]) for r in csv.DictReader(open(tmp_path / "log" / "loss.csv"))]
    assert rates == pytest.approx([1e-5, 1e-3, 1e-5 + (1e-3 - 1e-5) / 2, 1e-5])


def test_absurd_learning_rate_diverges_and_keeps_good_checkpoint(host, tmp_path, data_dir):
    source = make_hypernetwork(tmp_path)
    before = short_hash(source)
    result = train_hypernetwork(host, make_options(tmp_path, source, data_dir, steps=6, learning_rate="1e-3:2, 1e10",
                                                   optimizer="SGD", save_every=1, save_final_to_source=True))
    assert result.stopped == "diverged"
    assert "Lower the learning rate" in result.message and "last good checkpoint" in result.message
    good = load_hypernetwork(result.final_path)
    assert good.step <= 3 and all(torch.isfinite(p).all() for p in good.parameters())
    assert short_hash(source) == before


def test_loss_threshold_guard(host, tmp_path, data_dir):
    result = train_hypernetwork(host, make_options(tmp_path, make_hypernetwork(tmp_path), data_dir, steps=10,
                                                   loss_guard_threshold=1e-6, loss_guard_steps=3))
    assert result.stopped == "diverged" and "stayed above 1e-06 for 3 steps" in result.message
    assert result.final_path is None and "is unchanged" in result.message


class _CancelAt(Progress):
    def __init__(self, at, interrupt=False):
        super().__init__()
        self.at, self.interrupt = at, interrupt

    def update(self, step=None, message=None, **fields):
        super().update(step, message, **fields)
        if step == self.at and "loss" in fields:
            if self.interrupt:
                raise KeyboardInterrupt
            self.cancel()


@pytest.mark.parametrize("interrupt", [False, True])
def test_interrupt_saves_a_checkpoint(host, tmp_path, data_dir, interrupt):
    result = Trainer(host, make_options(tmp_path, make_hypernetwork(tmp_path), data_dir, steps=10),
                     _CancelAt(2, interrupt)).run()
    assert result.stopped == "interrupted" and result.step == 2
    assert result.final_path.name == "hn-2.pt" and load_hypernetwork(result.final_path).step == 2
    assert load_optimizer_state(result.final_path).matches


def test_save_final_to_source(host, tmp_path, data_dir):
    source = make_hypernetwork(tmp_path)
    result = train_hypernetwork(host, make_options(tmp_path, source, data_dir, steps=2, save_final_to_source=True))
    assert load_hypernetwork(source).step == 2 and same_weights(state(source), state(result.final_path))
    assert load_optimizer_state(source).matches


def test_already_trained_far_enough(host, tmp_path, data_dir):
    source = make_hypernetwork(tmp_path)
    first = train_hypernetwork(host, make_options(tmp_path, source, data_dir, steps=2))
    again = train_hypernetwork(host, make_options(tmp_path, first.final_path, data_dir, steps=2, log="again"))
    assert again.stopped == "finished" and "already at step 2" in again.message and again.final_path is None
    # in the words of the interface: the API/panels name the option, the CLI its flag (the REST API said
    # "--steps" before)
    assert "set steps=3 or more" in again.message and "--steps" not in again.message
    from hypernet_ext.cli_wording import cli_message
    assert "pass --steps 3 or more" in cli_message(again.message)


def test_bad_inputs_have_clear_messages(host, tmp_path, data_dir):
    source = make_hypernetwork(tmp_path)
    with pytest.raises(InvalidOptionError, match="does not start with a number"):
        train_hypernetwork(host, make_options(tmp_path, source, data_dir, learning_rate="fast"))
    with pytest.raises(InvalidOptionError, match="does not exist"):
        train_hypernetwork(host, make_options(tmp_path, source, tmp_path / "missing"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(HypernetError, match="no images"):
        train_hypernetwork(host, make_options(tmp_path, source, tmp_path / "empty"))
    with pytest.raises(InvalidOptionError, match="optimizer state.*missing"):
        train_hypernetwork(host, make_options(tmp_path, source, data_dir, resume=True))
    with pytest.raises(InvalidOptionError, match="Unknown optimizer"):
        train_hypernetwork(host, make_options(tmp_path, source, data_dir, optimizer="Adamm"))
    with pytest.raises(InvalidOptionError, match="does not exist"):
        train_hypernetwork(host, make_options(tmp_path, tmp_path / "nope.pt", data_dir))
    wrong = make_hypernetwork(tmp_path, name="wrong", sizes=(1024,))
    with pytest.raises(InvalidOptionError, match="matching sizes"):
        train_hypernetwork(host, make_options(tmp_path, wrong, data_dir))


def test_resume_refuses_a_changed_checkpoint(host, tmp_path, data_dir):
    first = train_hypernetwork(host, make_options(tmp_path, make_hypernetwork(tmp_path), data_dir, steps=1))
    other = make_hypernetwork(tmp_path, name="other", seed=5)
    first.final_path.write_bytes(other.read_bytes())
    with pytest.raises(HypernetworkFileError, match="different file"):
        train_hypernetwork(host, make_options(tmp_path, first.final_path, data_dir, steps=3, resume=True))
