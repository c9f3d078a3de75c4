"""The panels' 'Use this checkpoint': every run checkpoint offered, copied under the name given, errors shown."""
from __future__ import annotations

from hypernet_ext.training.run_folder import CHECKPOINT_FOLDER
from hypernet_ext.ui.resume_panel import find_checkpoint
from hypernet_ext.ui.use_checkpoint import checkpoint_choices, chosen_path, suggested_name, use

from helpers_training import make_run, same_weights, state
from helpers_ui import make_context
from helpers_webui import write_hypernetwork


def test_generate_offers_every_run_checkpoint_and_copies_the_chosen_one(tmp_path):
    ctx = make_context(tmp_path)
    write_hypernetwork(tmp_path / "hypernetworks", "style", seed=0)
    run = make_run(tmp_path / "runs")
    choices = checkpoint_choices(ctx)
    assert choices == ["style/20260102-030405/style-2.pt (step 2, loss 0.2500)",
                       "style/20260102-030405/style-4.pt (step 4, loss 0.1250)"]
    assert suggested_name(ctx, choices[1]) == "style-4"
    trained = run / CHECKPOINT_FOLDER / "style-4.pt"
    assert chosen_path(ctx, str(trained)) == trained  # a typed path works too
    name, message = use(ctx, chosen_path(ctx, choices[1]), "", False)  # empty name: the checkpoint's own
    assert name == "style-4" and "hnx-ok" in message and "&lt;hypernet:style-4:1&gt;" in message
    assert "style-4" in ctx.library().names()
    assert same_weights(ctx.library().load("style-4").state_dict(), state(trained))
    name, message = use(ctx, chosen_path(ctx, choices[0]), "style-4", False)
    assert name is None and "hnx-error" in message and "tick &#x27;Overwrite an existing file&#x27;" in message
    assert same_weights(ctx.library().load("style-4").state_dict(), state(trained))  # kept
    name, message = use(ctx, chosen_path(ctx, choices[0]), "style-4", True)
    assert name == "style-4" and (tmp_path / "hypernetworks" / "style-4.pt").read_bytes() == \
        (run / CHECKPOINT_FOLDER / "style-2.pt").read_bytes()


def test_resume_panel_copies_the_checkpoint_chosen_there(tmp_path):
    ctx = make_context(tmp_path)
    run = make_run(tmp_path / "runs")
    checkpoint = find_checkpoint(str(run), "style-2.pt")
    name, message = use(ctx, checkpoint.path, "chosen", False)
    assert name == "chosen" and (tmp_path / "hypernetworks" / "chosen.pt").read_bytes() == checkpoint.path.read_bytes()
