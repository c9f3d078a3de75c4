"""The panels' 'Use this checkpoint': every run checkpoint offered, copied under the name given, errors shown."""
from __future__ import annotations

from hypernet_ext.training.run_folder import CHECKPOINT_FOLDER
from hypernet_ext.ui.use_checkpoint import checkpoint_choices, chosen_path, suggested_name, use

from helpers_training import make_run, same_weights, state
from helpers_ui import make_context
from helpers_webui import write_hypernetwork


def test_generate_offers_every_run_checkpoint_and_copies_the_chosen_one(tmp_path):
    ctx = make_context(tmp_path)
    write_hypernetwork(tmp_path / "hypernetworks", "style", seed=0)
    run = make_run(tmp_path / "runs")
    choices = checkpoint_choices(ctx)
    assert choices == ["style-2.pt (step 2, loss 0.2500) in style/20260102-030405",
                       "style-4.pt (step 4, loss 0.1250) in style/20260102-030405"]
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


def test_the_webuis_own_trainer_runs_are_offered_too(tmp_path):
    """The webui's trainer writes textual_inversion/<date>/<name>/hypernetworks/<name>-<step>.pt (seeds' guides
    tell users to copy those by hand)."""
    ctx = make_context(tmp_path)
    builtin = tmp_path / "textual_inversion"
    ours = make_run(tmp_path / "runs")
    theirs = builtin / "2026-11-27" / "anime"
    write_hypernetwork(theirs / "hypernetworks", "anime-500", seed=3)
    ctx.other_run_roots = lambda: [str(builtin), str(tmp_path / "runs")]  # a root listed twice: each file once
    choices = checkpoint_choices(ctx)
    assert choices[-1] == "anime-500.pt (step 500) in textual_inversion/2026-11-27/anime"
    assert len(choices) == 3 and chosen_path(ctx, choices[0]).parent.parent == ours
    name, message = use(ctx, chosen_path(ctx, choices[-1]), "", False)
    assert name == "anime-500" and (tmp_path / "hypernetworks" / "anime-500.pt").read_bytes() == \
        (theirs / "hypernetworks" / "anime-500.pt").read_bytes()


def test_both_panels_offer_the_section(tmp_path):
    import gradio as gr
    from hypernet_ext.ui import generate_panel, resume_panel
    ctx = make_context(tmp_path)
    make_run(tmp_path / "runs")
    with gr.Blocks():
        generate = generate_panel.build(ctx)
        resume = resume_panel.build(ctx)
    for c, prefix in ((generate, "hnx_generate"), (resume, "hnx_resume")):
        assert c["run_checkpoint"].elem_id == f"{prefix}_run_checkpoint"
        assert len(c["run_checkpoint"].choices) == 2 and c["use_button"].value == "Use this checkpoint"


def test_a_tag_naming_a_run_checkpoint_says_how_to_use_it(tmp_path):
    """Right after training, `<hypernet:style-4>` names no file; Generate says where it is, not only 'did you
    mean style' (the untrained file)."""
    from hypernet_ext.standalone import load_host
    from hypernet_ext.ui.generate_panel import generate
    ctx = make_context(tmp_path, load_host("tiny"))
    write_hypernetwork(tmp_path / "hypernetworks", "style", seed=0)
    make_run(tmp_path / "runs")
    image, info = generate(ctx, "a cat <hypernet:style-4:1>", "", 1, 7.0, 1, 64, 64)
    assert image is not None
    assert "&#x27;style-4&#x27; is a checkpoint of run style/20260102-030405" in info
    assert "press &#x27;Use this checkpoint&#x27;" in info
    use(ctx, chosen_path(ctx, checkpoint_choices(ctx)[1]), "", False)
    image, info = generate(ctx, "a cat <hypernet:style-4:1>", "", 1, 7.0, 1, 64, 64)
    assert "Hypernetworks applied: style-4:1" in info and "is a checkpoint of run" not in info


def test_opening_the_resume_tab_rereads_the_use_list(tmp_path):
    """A run made after the page opened (e.g. trained from the CLI) is offered when the Resume tab opens."""
    import gradio as gr
    from hypernet_ext.ui import resume_panel
    ctx = make_context(tmp_path)
    make_run(tmp_path / "runs")
    with gr.Blocks():
        c = resume_panel.build(ctx)
    assert len(c["run_checkpoint"].choices) == 2
    make_run(tmp_path / "runs", name="later", stamp="20260103-000000", steps=(6,))
    fn, inputs, outputs = c["on_tab_open"]
    values = [component.value for component in inputs]
    updates = fn(*values)
    assert len(updates) == len(outputs) and outputs[-1] is c["run_checkpoint"]
    assert any(label.startswith("later-6.pt") for label in updates[-1]["choices"])
