"""Hypernetwork folders: scanning, name resolution by file stem, refresh, load cache, warnings."""
import os
import threading
import time

import pytest
import torch

import hypernet_ext as hx
from hypernet_ext.errors import HypernetError, HypernetworkFileError
from hypernet_ext.library import HypernetworkLibrary
from hypernet_ext.prompt_tags import HypernetTag, parse_prompt
from hypernet_ext.storage import save_hypernetwork


def save(path, name="net", seed=0, sizes=(32,)):
    path.parent.mkdir(parents=True, exist_ok=True)
    hn = hx.create_hypernetwork(name, sizes=sizes, seed=seed, init_std=0.1)
    save_hypernetwork(hn, path, overwrite=True)
    return hn


def first_weight(hn):
    return next(hn.parameters()).detach().clone()


def bump_mtime(path, seconds=5):
    stat = os.stat(path)
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + seconds * 1_000_000_000))


def age(directory, seconds=60):
    """Make a directory look settled (not modified within the library's racy window)."""
    past = time.time_ns() - seconds * 1_000_000_000
    os.utime(directory, ns=(past, past))


def test_recursive_scan_keyed_by_stem_with_exclusions(tmp_path):
    save(tmp_path / "Zeta.pt")
    save(tmp_path / "sub" / "deeper" / "alpha.safetensors")
    save(tmp_path / "beta.pt")
    save(tmp_path / ".hidden" / "secret.pt")
    save(tmp_path / ".dotfile.pt")
    save(tmp_path / "None.pt")
    (tmp_path / "beta.pt.optim").write_bytes(b"not a network")
    (tmp_path / "notes.txt").write_text("x")
    library = HypernetworkLibrary([tmp_path])
    assert library.names() == ["alpha", "beta", "Zeta"]
    assert library.path("alpha") == tmp_path / "sub" / "deeper" / "alpha.safetensors"
    assert library.path("zeta") == tmp_path / "Zeta.pt"  # unique case-insensitive match
    assert library.path("missing") is None
    entries = {e.name: e for e in library.entries()}
    assert entries["beta"].size == (tmp_path / "beta.pt").stat().st_size and entries["beta"].folder == tmp_path


def test_snapshot_and_parent_with_same_internal_name_stay_apart(tmp_path):
    parent = save(tmp_path / "X.pt", name="X", seed=1)
    snapshot = save(tmp_path / "X-500.pt", name="X", seed=2)  # webui snapshots keep the internal name
    library = HypernetworkLibrary([tmp_path])
    loaded_snapshot, loaded_parent = library.load("X-500"), library.load("X")
    assert torch.equal(first_weight(loaded_snapshot), first_weight(snapshot))
    assert torch.equal(first_weight(loaded_parent), first_weight(parent))
    assert library.load("X") is loaded_parent  # cached


def test_changed_file_reloads_and_new_files_appear_without_restart(tmp_path):
    save(tmp_path / "a.pt", seed=1)
    age(tmp_path)
    library = HypernetworkLibrary([tmp_path])
    first = library.load("a")
    assert library.refresh() is False  # nothing changed: no rescan
    assert library.refresh(force=True) is True
    updated = save(tmp_path / "a.pt", seed=2)
    bump_mtime(tmp_path / "a.pt")
    second = library.load("a")
    assert second is not first and torch.equal(first_weight(second), first_weight(updated))
    save(tmp_path / "new" / "b.pt")
    assert library.names() == ["a", "b"]
    (tmp_path / "a.pt").unlink()
    assert library.names() == ["b"]
    with pytest.raises(HypernetError, match="Unknown hypernetwork 'a'"):
        library.load("a")


def test_duplicates_are_deterministic_and_warned(tmp_path):
    first, second = tmp_path / "one", tmp_path / "two"
    save(second / "dup.pt", seed=2)
    save(first / "nested" / "dup.pt", seed=1)
    save(first / "dup.safetensors", seed=3)
    save(first / "dup.pt", seed=4)  # same folder as the .safetensors: silently loses to it
    library = HypernetworkLibrary([first, second])
    assert library.path("dup") == first / "dup.safetensors"
    (warning,) = library.warnings
    assert str(second / "dup.pt") in warning and str(first / "nested" / "dup.pt") in warning
    assert str(first / "dup.pt") + "," not in warning
    pairs, warnings = library.resolve([HypernetTag("dup", 1.0)])
    assert len(pairs) == 1 and warnings == [warning]
    assert HypernetworkLibrary([second, first]).path("dup") == second / "dup.pt"


def test_resolve_reports_unknown_and_broken_files(tmp_path):
    save(tmp_path / "style.pt", seed=1)
    (tmp_path / "broken.safetensors").write_bytes(b"\x00" * 10)
    library = HypernetworkLibrary([tmp_path])
    parsed = parse_prompt("a <hypernet:style:0.5> <hypernet:styel> <hypernet:broken> <hypernet:style:-1>")
    pairs, warnings = library.resolve(parsed.tags)
    assert [(hn.name, weight) for hn, weight in pairs] == [("net", 0.5), ("net", -1.0)]
    assert pairs[0][0] is pairs[1][0]
    assert len(warnings) == 2
    assert "styel (did you mean style?)" in warnings[0]
    assert "broken" in warnings[1] and "Could not load" in warnings[1]
    assert library.resolve([("style", "abc")]) == ([], ["Hypernetwork 'style' has weight 'abc', not a number; "
                                                        "it was skipped."])
    with pytest.raises(HypernetError, match="did you mean style"):
        library.load("styel")
    with pytest.raises(HypernetworkFileError):
        library.load("broken")


def test_missing_folder_warns_then_is_picked_up(tmp_path):
    folder = tmp_path / "later"
    library = HypernetworkLibrary(str(folder))  # a single folder is accepted too
    assert library.names() == [] and "does not exist" in library.warnings[0]
    save(folder / "n.pt")
    assert library.names() == ["n"] and library.warnings == []


def test_racy_directory_is_rescanned_even_if_mtime_looks_unchanged(tmp_path):
    save(tmp_path / "a.pt")
    library = HypernetworkLibrary([tmp_path])
    assert library.names() == ["a"]
    mtime = os.stat(tmp_path).st_mtime_ns
    save(tmp_path / "b.pt")
    os.utime(tmp_path, ns=(mtime, mtime))  # a second change inside the same mtime tick
    assert library.names() == ["a", "b"]
    age(tmp_path)
    library.refresh()
    assert library.refresh() is False


def test_loaded_cache_is_bounded(tmp_path):
    for i in range(3):
        save(tmp_path / f"n{i}.pt", seed=i)
    library = HypernetworkLibrary([tmp_path], max_cached=2)
    first = library.load("n0")
    library.load("n1"), library.load("n2")
    assert library.load("n0") is not first


def test_concurrent_polling_while_loading(tmp_path):
    for i in range(4):
        save(tmp_path / f"n{i}.pt", seed=i)
    library = HypernetworkLibrary([tmp_path])
    errors, results = [], []

    def poll():
        try:
            for _ in range(50):
                results.append(len(library.names()))
                library.entries()
        except Exception as exc:  # collected and asserted below
            errors.append(exc)

    def load():
        try:
            for i in range(8):
                library.load(f"n{i % 4}")
                save(tmp_path / f"extra{i}.pt")
        except Exception as exc:
            errors.append(exc)

    threads = [threading.Thread(target=poll) for _ in range(3)] + [threading.Thread(target=load)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert errors == [] and min(results) >= 4
    assert len(library.names()) == 12
