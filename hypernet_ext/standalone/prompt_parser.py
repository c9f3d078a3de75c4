"""Prompt emphasis syntax, parsed the way the webui (v1.10.1) parses it.

`parse_weighted_text(text)` turns a prompt into `[text, weight]` runs:

- `(a)` multiplies the weight of `a` by 1.1, `[a]` divides it by 1.1, `(a:1.3)` multiplies it by 1.3;
  brackets nest and multiply; a bracket left open applies to the end of the prompt; a closing
  bracket with nothing open is plain text.
- `\\(`, `\\)`, `\\[`, `\\]`, `\\\\` are the literal characters; a lone backslash disappears.
- The word `BREAK` (upper case, a whole word, outside any bracket) becomes the marker run
  `[BREAK, -1.0]` (`is_break`), which ends the current 77-token chunk.
- Neighbouring runs of equal weight are merged; an empty prompt is `[["", 1.0]]`.

The webui's quirks are kept on purpose, because training must see exactly what the webui feeds its
text encoder: a `BREAK` inside brackets has its marker weight scaled and is read as the plain word
"break" with a negative weight; `(a:-1)` next to a `BREAK` marker merges with it.
"""
from __future__ import annotations

import re

from ..errors import InvalidOptionError

BREAK = "BREAK"
BREAK_WEIGHT = -1.0
ROUND_FACTOR = 1.1
SQUARE_FACTOR = 1 / 1.1

# One token of the emphasis syntax per match; the order of the alternatives decides ties.
_SYNTAX = re.compile(r"""
    (?P<escaped>\\[()\[\]\\]|\\)            # \( \) \[ \] \\ , or a lone backslash
  | (?P<open_round>\()
  | (?P<open_square>\[)
  | :\s*(?P<weight>[+-]?[.\d]+)\s*\)        # ":1.3)" closes a round bracket with an explicit weight
  | (?P<close_round>\))
  | (?P<close_square>])
  | (?P<text>[^\\()\[\]:]+|:)               # plain text, or a colon that is not a weight
""", re.X)
_BREAK_WORD = re.compile(r"\s*\bBREAK\b\s*", re.S)


def is_break(run) -> bool:
    """True for the marker run that `BREAK` produces."""
    return run[0] == BREAK and run[1] == BREAK_WEIGHT


class _Runs:
    """The growing list of [text, weight] runs and the open brackets (indices into it)."""

    def __init__(self):
        self.runs: list[list] = []
        self.round: list[int] = []
        self.square: list[int] = []

    def scale_from(self, start: int, factor: float) -> None:
        for run in self.runs[start:]:
            run[1] *= factor

    def add_text(self, text: str) -> None:
        for index, part in enumerate(_BREAK_WORD.split(text)):
            if index:
                self.runs.append([BREAK, BREAK_WEIGHT])
            self.runs.append([part, 1.0])


def _explicit_weight(number: str, prompt: str) -> float:
    try:
        return float(number)
    except ValueError:
        raise InvalidOptionError(f"the emphasis weight {number!r} in the prompt {prompt!r} is not a number; "
                                 "write it like (word:1.2)") from None


def parse_weighted_text(text: str) -> list[list]:
    """The prompt as [text, weight] runs (see the module docstring)."""
    state = _Runs()
    for match in _SYNTAX.finditer(text):
        kind = match.lastgroup
        if kind == "escaped":
            state.runs.append([match.group(0)[1:], 1.0])
        elif kind == "open_round":
            state.round.append(len(state.runs))
        elif kind == "open_square":
            state.square.append(len(state.runs))
        elif match.group("weight") is not None and state.round:
            state.scale_from(state.round.pop(), _explicit_weight(match.group("weight"), text))
        elif kind == "close_round" and state.round:
            state.scale_from(state.round.pop(), ROUND_FACTOR)
        elif kind == "close_square" and state.square:
            state.scale_from(state.square.pop(), SQUARE_FACTOR)
        else:  # text, or a closing bracket / weight with nothing open: kept as written
            state.add_text(match.group(0))
    for start in state.round:
        state.scale_from(start, ROUND_FACTOR)
    for start in state.square:
        state.scale_from(start, SQUARE_FACTOR)
    return _merge_equal_neighbours(state.runs or [["", 1.0]])


def _merge_equal_neighbours(runs: list[list]) -> list[list]:
    merged = [runs[0]]
    for run in runs[1:]:
        if run[1] == merged[-1][1]:
            merged[-1][0] += run[0]
        else:
            merged.append(run)
    return merged
