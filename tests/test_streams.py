"""Exact resume depends on the random-stream purpose codes: declared in one place, all distinct."""
from hypernet_ext.training import keyed_rng, loss


def test_stream_codes_are_distinct_and_declared_in_keyed_rng():
    codes = list(keyed_rng.STREAMS.values())
    assert len(codes) == len(set(codes))
    assert loss.NOISE is keyed_rng.NOISE and loss.DROPOUT is keyed_rng.DROPOUT
    declared = {name for name, value in vars(keyed_rng).items() if name.isupper() and isinstance(value, int)
                and not name.startswith("_")}
    assert declared == set(keyed_rng.STREAMS)
