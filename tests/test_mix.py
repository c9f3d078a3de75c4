"""mix.py: averages, chains, .hns files (read with literal_eval only), library integration."""
import pytest
import torch

from hypernet_ext import create_hypernetwork
from hypernet_ext.attach import attach_hypernetworks
from hypernet_ext.cli import main
from hypernet_ext.errors import HypernetworkFileError, InvalidOptionError
from hypernet_ext.library import HypernetworkLibrary
from hypernet_ext.mix import (Blend, Chain, Leaf, average_hypernetworks, chain_text, parse_hns_text,
                              parse_mix_item)
from hypernet_ext.storage import load_hypernetwork, save_hypernetwork

SIZES = (32, 64)


def _save(folder, name, seed, **kwargs):
    return save_hypernetwork(create_hypernetwork(name, sizes=SIZES, seed=seed, init_std=0.2, **kwargs),
                             folder / f"{name}.pt")


def _state(path):
    return load_hypernetwork(path).state_dict()


def test_parse_items():
    assert parse_mix_item("A.pt:0.6", 2) == (parse_mix_item("A.pt", 2)[0], 0.6)
    assert parse_mix_item("A.pt", 4)[1] == 0.25
    assert str(parse_mix_item(r"C:\nets\A.pt", 2)[0]) == r"C:\nets\A.pt"
    with pytest.raises(InvalidOptionError, match="finite"):
        parse_mix_item("A.pt:nan", 2)


def test_averaging_copies_gives_the_network_back_exactly(tmp_path):
    a = _save(tmp_path, "a", 1)
    for weights in (("0.5", "0.5"), ("0.6", "0.4"), ("3", "1")):
        out = tmp_path / f"avg{weights[0]}.pt"
        assert main(["mix", f"{a}:{weights[0]}", f"{a}:{weights[1]}", "--out", str(out)]) == 0
        mixed, original = _state(out), _state(a)
        assert mixed.keys() == original.keys() and all(torch.equal(mixed[k], original[k]) for k in mixed)


def test_average_is_the_weighted_mean(tmp_path, capsys):
    a, b = _save(tmp_path, "a", 1), _save(tmp_path, "b", 2)
    out = tmp_path / "c.safetensors"
    assert main(["mix", f"{a}:3", f"{b}:1", "--out", str(out)]) == 0
    assert "weighted average" in capsys.readouterr().out
    sa, sb, sc = _state(a), _state(b), _state(out)
    for k in sa:
        assert torch.allclose(sc[k], 0.75 * sa[k] + 0.25 * sb[k], atol=1e-7)
    assert load_hypernetwork(out).metadata["mixed_from"][1]["weight"] == 1.0
    assert main(["mix", f"{a}:3", f"{b}:1", "--out", str(out)]) == 2  # never overwrites unasked


def test_different_structures_are_chained_and_apply_like_both_in_order(tmp_path, capsys):
    a = _save(tmp_path, "a", 1)
    b = _save(tmp_path, "b", 2, layer_structure=(1, 3, 1), activation="relu")
    with pytest.raises(InvalidOptionError, match="different structures"):
        average_hypernetworks([(load_hypernetwork(a), 1), (load_hypernetwork(b), 1)], "x")
    assert main(["mix", f"{a}:0.6", f"{b}:0.4", "--out", str(tmp_path / "c.pt")]) == 0
    message = capsys.readouterr().out
    assert "chain" in message and "c.hns" in message and "plain webui" in message
    assert not (tmp_path / "c.pt").exists()
    assert parse_hns_text((tmp_path / "c.hns").read_text()) == Chain([Leaf("a", 0.6), Leaf("b", 0.4)])
    library = HypernetworkLibrary(tmp_path)
    assert "c" in library.names()
    mixed, hn_a, hn_b = library.load("c"), load_hypernetwork(a), load_hypernetwork(b)
    x = torch.randn(2, 5, 32)
    for side in ("k", "v"):
        expected = getattr(hn_b.pair(32), side)(getattr(hn_a.pair(32), side)(x, 0.6), 0.4)
        assert torch.allclose(getattr(mixed.pair(32), side)(x, 1.0), expected, atol=1e-6)
        # a prompt strength m scales the mix's change: x + m * (mix(x) - x)
        assert torch.allclose(getattr(mixed.pair(32), side)(x, 0.5), x + 0.5 * (expected - x), atol=1e-6)
    assert mixed.pair(999) is None


def test_chain_through_attach_equals_attaching_both(tmp_path):
    from hypernet_ext.standalone import load_host
    host = load_host("tiny")
    widths = host.attention_widths
    a = save_hypernetwork(create_hypernetwork("a", sizes=widths, seed=1, init_std=0.1), tmp_path / "a.pt")
    b = save_hypernetwork(create_hypernetwork("b", sizes=widths, seed=2, init_std=0.1, activation="relu",
                                              layer_structure=(1, 1.5, 1)), tmp_path / "b.pt")
    (tmp_path / "mix.hns").write_text(chain_text([("a", 0.7), ("b", -0.5)]))
    mixed = HypernetworkLibrary(tmp_path).load("mix")
    latents = torch.randn(1, host.latent_channels, 8, 8, generator=torch.Generator().manual_seed(0))
    cond = host.encode_text(["a photo"])
    t = torch.tensor([500])
    with torch.no_grad():
        with attach_hypernetworks(host.unet, [(load_hypernetwork(a), 0.7), (load_hypernetwork(b), -0.5)]):
            both = host.predict(latents, t, cond)
        with attach_hypernetworks(host.unet, [(mixed, 1.0)]):
            chained = host.predict(latents, t, cond)
        bare = host.predict(latents, t, cond)
    assert torch.allclose(both, chained, atol=1e-5) and not torch.allclose(bare, chained, atol=1e-4)


def test_reads_monkeypatch_hns_forms(tmp_path):
    assert parse_hns_text('"A"') == Leaf("A", 1.0)
    assert parse_hns_text('[("A", 0.2), ("B", 0.4)]') == Chain([Leaf("A", 0.2), Leaf("B", 0.4)])
    assert parse_hns_text('[{"A": 0.6}, "B", ["C"]]') == Chain([Leaf("A", 0.6), Leaf("B", 1.0), Leaf("C", 1.0)])
    assert parse_hns_text('{"A": 0.8, "B": 0.2}') == Blend([(Leaf("A", 1.0), 0.8), (Leaf("B", 1.0), 0.2)])
    blend = parse_hns_text('{"A", "B"}')
    assert sorted(n.name for n, _ in blend.parts) == ["A", "B"] and all(w == 0.5 for _, w in blend.parts)
    nested = parse_hns_text('{"[\'A\', \'B\']": 3, "C": 1}')
    assert nested == Blend([(Chain([Leaf("A", 1.0), Leaf("B", 1.0)]), 0.75), (Leaf("C", 1.0), 0.25)])


def test_parallel_hns_is_the_weighted_sum_of_branches(tmp_path):
    a, b = _save(tmp_path, "A", 1), _save(tmp_path, "B", 2)
    (tmp_path / "par.hns").write_text('{"A": 0.8, "B": 0.2}')
    mixed = HypernetworkLibrary(tmp_path).load("par")
    x = torch.randn(3, 64)
    pa, pb = load_hypernetwork(a).pair(64), load_hypernetwork(b).pair(64)
    assert torch.allclose(mixed.pair(64).k(x), 0.8 * pa.k(x, 1.0) + 0.2 * pb.k(x, 1.0), atol=1e-6)


def test_hostile_or_broken_hns_is_refused_without_running_anything(tmp_path):
    marker = tmp_path / "ran"
    for text in (f"__import__('pathlib').Path({str(marker)!r}).touch()", "[]", '{"A": "x"}', "[(1, 2)]", ""):
        with pytest.raises(HypernetworkFileError):
            parse_hns_text(text)
    assert not marker.exists()
    (tmp_path / "loop.hns").write_text('["loop"]')
    (tmp_path / "missing.hns").write_text('["nope"]')
    pairs, warnings = HypernetworkLibrary(tmp_path).resolve([("loop", 1.0), ("missing", 1.0)])
    assert pairs == [] and "refers to itself" in warnings[0] and "'nope'" in warnings[1]


def test_info_describes_a_hns_file(tmp_path, capsys):
    (tmp_path / "m.hns").write_text('[("a", 0.5), {"b": 1, "c": 1}]')
    assert main(["info", str(tmp_path / "m.hns")]) == 0
    out = capsys.readouterr().out
    assert "hns" in out and "mix of a, b, c" in out
    (tmp_path / "bad.hns").write_text("[]")
    assert main(["info", str(tmp_path / "bad.hns")]) == 1
