"""The one atomic writer every file output goes through."""
import pytest

from hypernet_ext.atomic_files import atomic_write, atomic_write_bytes
from hypernet_ext.preprocess.outputs import OutputWriteError, save_caption


def test_writes_and_creates_the_folder(tmp_path):
    path = atomic_write_bytes(tmp_path / "a" / "b.txt", b"hello")
    assert path.read_bytes() == b"hello" and [p.name for p in path.parent.iterdir()] == ["b.txt"]


def test_a_failing_writer_keeps_the_old_file_and_leaves_no_temp_file(tmp_path):
    path = tmp_path / "keep.txt"
    path.write_bytes(b"old")

    def broken(f):
        f.write(b"half")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        atomic_write(path, broken)
    assert path.read_bytes() == b"old" and [p.name for p in tmp_path.iterdir()] == ["keep.txt"]


def test_preprocessing_reports_unwritable_destinations(tmp_path):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    with pytest.raises(OutputWriteError, match="cannot write .*writable"):
        save_caption("a cat", blocker / "0.txt")
