"""Layout helpers of the panels (issue 10): lists in messages, tables that keep their headers, snapped sizes."""
from __future__ import annotations

import pytest

from hypernet_ext.training.data import DataOptions, DatasetEmptyError, TrainingData
from hypernet_ext.training.run_folder import CHECKPOINT_COLUMNS
from hypernet_ext.ui.live import status_html
from hypernet_ext.ui.messages import error, text_html


def test_indented_lines_become_one_list_item_each():
    text = "Preprocessed 1 image(s); skipped 2.\n  skipped a.png: broken\n  skipped b <x>.png: tiny\nDone."
    assert text_html(text) == ('<div>Preprocessed 1 image(s); skipped 2.</div><ul class="hnx-list">'
                               '<li>skipped a.png: broken</li><li>skipped b &lt;x&gt;.png: tiny</li></ul><div>Done.</div>')
    assert text_html("") == "&nbsp;" and error("one\ntwo").count("<div>") == 2


def test_a_jobs_message_lists_its_skipped_files():
    status = {"state": "finished", "running": False, "kind": "preprocessing",
              "message": "Preprocessed 1 image(s)\n  skipped a.png: broken\n  skipped b.png: broken", "progress": {}}
    assert status_html(status).count("<li>") == 2


def test_an_unusable_dataset_names_each_file_on_its_own_line(tmp_path):
    from hypernet_ext.standalone import load_host
    for name in ("a.png", "b.png"):
        (tmp_path / name).write_bytes(b"garbage")
    with pytest.raises(DatasetEmptyError) as info:
        TrainingData(load_host("tiny"), DataOptions(str(tmp_path), "nm", width=64, height=64))
    lines = str(info.value).splitlines()
    assert lines[0].endswith("fix or replace these files:") and [line.split(":")[0] for line in lines[1:]] == \
        ["  a.png", "  b.png"]


def test_an_empty_table_keeps_its_headers():
    gr = pytest.importorskip("gradio")
    from hypernet_ext.ui.tables import headed_table
    with gr.Blocks():
        table = headed_table(gr, CHECKPOINT_COLUMNS, label="Checkpoints")
    assert table.get_block_name() == "dataframe"
    for empty in ([], None, [[]]):
        assert table.postprocess(empty) == {"headers": list(CHECKPOINT_COLUMNS), "data": []}
    assert table.postprocess([[1, 0.5, "", "yes", "yes", "AdamW", "a-1.pt"]])["headers"] == list(CHECKPOINT_COLUMNS)
    assert table.get_config()["value"]["headers"] == list(CHECKPOINT_COLUMNS)


def test_generate_sizes_snap_to_the_sliders():
    from hypernet_ext.ui.generate_panel import SIDE_MAX, SIDE_MIN, SIDE_STEP, _side
    assert SIDE_MIN % SIDE_STEP == 0 and SIDE_MAX % SIDE_STEP == 0
    assert [_side(s) for s in (64, 70, 509, 512, 10, 99999)] == [64, 72, 512, 512, 64, 2048]
