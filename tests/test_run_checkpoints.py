"""Using a run's checkpoint: listing every run's checkpoints, copying one into the hypernetworks folder."""
from __future__ import annotations

import os
import stat

import pytest

from hypernet_ext import service
from hypernet_ext.errors import HypernetworkFileError, InvalidOptionError
from hypernet_ext.library import HypernetworkLibrary
from hypernet_ext.run_checkpoints import (NameTakenError, find_run_checkpoint, run_checkpoints, use_checkpoint)
from hypernet_ext.storage import save_optimizer_state
from hypernet_ext.training.run_folder import CHECKPOINT_FOLDER

from helpers_training import make_run, same_weights, state
from helpers_ui import make_context
from helpers_webui import write_hypernetwork


@pytest.fixture
def folders(tmp_path):
    hypernetworks, runs = tmp_path / "hypernetworks", tmp_path / "runs"
    write_hypernetwork(hypernetworks, "style", seed=0)  # the untrained file Create wrote (step 0)
    return hypernetworks, runs, make_run(runs)


def test_every_checkpoint_of_every_run_is_listed(folders):
    _, runs, run = folders
    older = make_run(runs, stamp="20250101-000000", steps=(6,))
    os.utime(older / CHECKPOINT_FOLDER, (1, 1))  # runs are ordered newest first by their checkpoint folder
    found = run_checkpoints(runs)
    assert [(c.run, c.step) for c in found] == [(run, 2), (run, 4), (older, 6)]
    assert found[1].label() == "style-4.pt (step 4, loss 0.1250) in style/20260102-030405"
    assert len({c.label() for c in found}) == 3 and found[1].suggested_name() == "style-4"
    assert run_checkpoints(runs / "nowhere") == []


def test_the_copy_is_the_trained_file_byte_for_byte_and_the_run_is_untouched(folders):
    hypernetworks, _, run = folders
    source = run / CHECKPOINT_FOLDER / "style-4.pt"
    save_optimizer_state(source, "AdamW", {"state": {}, "param_groups": []})
    before, mtime = source.read_bytes(), source.stat().st_mtime_ns
    old_umask = os.umask(0o022)
    try:
        used = use_checkpoint(source, "style-4", hypernetworks)
    finally:
        os.umask(old_umask)
    assert used.path == hypernetworks / "style-4.pt" and used.name == "style-4"
    assert used.path.read_bytes() == before
    assert source.read_bytes() == before and source.stat().st_mtime_ns == mtime  # copied, never moved
    assert stat.S_IMODE(used.path.stat().st_mode) == 0o644  # the user's umask, not mkstemp's 0600
    assert not list(hypernetworks.glob("*.optim"))  # applying needs only the weights
    library = HypernetworkLibrary(hypernetworks)
    trained = {k: v for k, v in library.load("style-4").state_dict().items()}
    assert same_weights(trained, state(source))
    assert not same_weights(trained, state(hypernetworks / "style.pt"))  # not the step-0 file
    assert "<hypernet:style-4:1>" in used.describe()


def test_an_existing_name_is_kept_unless_overwrite_is_asked(folders):
    hypernetworks, _, run = folders
    source = run / CHECKPOINT_FOLDER / "style-4.pt"
    existing = (hypernetworks / "style.pt").read_bytes()
    with pytest.raises(NameTakenError, match=r"already exists .*style\.pt.*Choose another name, or tick 'Over"):
        use_checkpoint(source, "style", hypernetworks, overwrite_hint="tick 'Overwrite'")
    assert (hypernetworks / "style.pt").read_bytes() == existing
    used = use_checkpoint(source, "style", hypernetworks, overwrite=True)
    assert (hypernetworks / "style.pt").read_bytes() == source.read_bytes()
    assert used.replaced == (hypernetworks / "style.pt",) and "It replaces" in used.describe()


def test_a_same_named_file_of_another_format_is_a_clash_too(folders):
    """`.safetensors` beats `.pt` for one name, so a copy beside it would never be loaded by the tag."""
    hypernetworks, _, run = folders
    other = write_hypernetwork(hypernetworks, "mine", seed=7, suffix=".safetensors")
    source = run / CHECKPOINT_FOLDER / "style-2.pt"
    with pytest.raises(NameTakenError, match="mine.safetensors"):
        use_checkpoint(source, "mine", hypernetworks)
    use_checkpoint(source, "mine", hypernetworks, overwrite=True)
    assert not other.exists()
    assert same_weights(HypernetworkLibrary(hypernetworks).load("mine").state_dict(), state(source))


def test_a_name_elsewhere_in_the_library_is_a_clash(folders, tmp_path):
    hypernetworks, _, run = folders
    second = tmp_path / "more"
    elsewhere = write_hypernetwork(second, "mine", seed=7)
    library = HypernetworkLibrary([hypernetworks, second])
    source = run / CHECKPOINT_FOLDER / "style-2.pt"
    with pytest.raises(NameTakenError, match=str(elsewhere)):
        use_checkpoint(source, "mine", hypernetworks, library=library)
    used = use_checkpoint(source, "mine", hypernetworks, overwrite=True, library=library)
    assert elsewhere.exists() and used.shadowed == (elsewhere,)
    library.refresh(force=True)
    assert library.path("mine") == hypernetworks / "mine.pt"


@pytest.mark.parametrize("typed, stem", [("../../outside/evil", ".._.._outside_evil"), ("fine.pt", "fine"),
                                         (" spaced name ", "spaced name"), ("a/b", "a_b")])
def test_the_name_is_one_safe_file_name(folders, typed, stem):
    hypernetworks, _, run = folders
    used = use_checkpoint(run / CHECKPOINT_FOLDER / "style-2.pt", typed, hypernetworks)
    assert used.path.parent == hypernetworks and used.name == used.path.stem
    assert used.name == stem.lstrip(".") and used.path.is_file()


def test_bad_sources_and_names_say_what_to_do(folders, tmp_path):
    hypernetworks, runs, run = folders
    source = run / CHECKPOINT_FOLDER / "style-2.pt"
    with pytest.raises(InvalidOptionError, match="Enter a name for the copy"):
        use_checkpoint(source, "  ", hypernetworks)
    with pytest.raises(HypernetworkFileError, match="no such file"):
        use_checkpoint(run / CHECKPOINT_FOLDER / "style-9.pt", "x", hypernetworks)
    with pytest.raises(InvalidOptionError, match="not a checkpoint file"):
        use_checkpoint(run / "loss.csv", "x", hypernetworks)
    broken = run / CHECKPOINT_FOLDER / "style-3.pt"
    broken.write_bytes(b"not a torch file")
    with pytest.raises(HypernetworkFileError):
        use_checkpoint(broken, "x", hypernetworks)
    assert not (hypernetworks / "x.pt").exists()
    with pytest.raises(InvalidOptionError, match="already in the hypernetworks folder"):
        use_checkpoint(hypernetworks / "style.pt", "style", hypernetworks, overwrite=True)


def test_a_checkpoint_is_found_by_file_by_run_folder_or_by_run_name(folders):
    _, runs, run = folders
    assert find_run_checkpoint(run / CHECKPOINT_FOLDER / "style-2.pt").step == 2
    assert find_run_checkpoint(run).step == 4  # newest by default
    assert find_run_checkpoint("style/20260102-030405", step=2, log_root=runs).path.name == "style-2.pt"
    with pytest.raises(InvalidOptionError, match="no checkpoint at step 3; its checkpoints are at steps 2, 4"):
        find_run_checkpoint(run, step=3)
    newer = make_run(runs, stamp="20260103-000000", steps=(6,))
    os.utime(run / CHECKPOINT_FOLDER, (1, 1))
    assert find_run_checkpoint("style", log_root=runs).path == newer / CHECKPOINT_FOLDER / "style-6.pt"  # newest run
    with pytest.raises(InvalidOptionError, match="neither a checkpoint file"):
        find_run_checkpoint(runs)
    with pytest.raises(InvalidOptionError, match="does not exist"):
        find_run_checkpoint(run / CHECKPOINT_FOLDER / "style-8.pt")


def test_the_service_copies_into_the_first_folder_and_the_library_sees_it_at_once(tmp_path):
    ctx = make_context(tmp_path)
    write_hypernetwork(tmp_path / "hypernetworks", "style", seed=0)
    run = make_run(tmp_path / "runs")
    assert "style-4" not in ctx.library().names()
    found = service.list_run_checkpoints(ctx)
    assert [c.step for c in found] == [2, 4]
    used = service.use_run_checkpoint(ctx, found[1].path, found[1].suggested_name())
    assert used.path == tmp_path / "hypernetworks" / "style-4.pt"
    assert "style-4" in ctx.library().names()
    assert same_weights(ctx.library().load("style-4").state_dict(), state(run / CHECKPOINT_FOLDER / "style-4.pt"))
    for wording, hint in (("panel", "tick 'Overwrite an existing file'"), ("api", 'send "overwrite": true')):
        with pytest.raises(NameTakenError, match=hint):
            service.use_run_checkpoint(ctx, found[1].path, "style-4", wording=wording)


def test_listing_for_use_does_not_open_the_optimizer_sidecars(folders):
    """Checking a sidecar hashes its checkpoint (seconds for hundreds of full-size files); using needs none."""
    from hypernet_ext.training.run_folder import list_checkpoints
    _, runs, run = folders
    (run / CHECKPOINT_FOLDER / "style-4.pt.optim").write_bytes(b"damaged")
    assert list_checkpoints(run)[1].problem is not None  # the Resume panel's listing reads it
    for_use = list_checkpoints(run, optimizer_state=False)[1]
    assert for_use.problem is None and for_use.has_optimizer and not for_use.optimizer_matches
    assert [c.checkpoint.problem for c in run_checkpoints(runs)] == [None, None]
