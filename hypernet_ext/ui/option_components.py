"""Panel components generated from option declarations (see `hypernet_ext.option_spec`).

`build_options` lays out one gradio component per declared option, grouped by the declaration's
group: groups named in the layout get their place (open rows or an accordion), any other group
(an option added later) lands in a "More options" accordion, so a newly declared option appears
in the panels without editing them. `titles_html` carries every option's help (with its default)
to the tooltips script.
"""
from __future__ import annotations

import html
import json
from typing import Any, Callable, Iterable, Optional, Sequence

from ..option_spec import OptionSpec, declared_options, display_value

PER_ROW = 4
OTHER_GROUP_TITLE = "More options"

Override = Callable[[Any, OptionSpec, Any, str], Any]  # (gr, spec, value, elem_id) -> component


def panel_specs(classes: Iterable[Any]) -> list[OptionSpec]:
    """The options the panels show, from several option classes, in declaration order."""
    return [spec for cls in classes for spec in declared_options(cls, "panel")]


def component(gr, spec: OptionSpec, value: Any, elem_id: str):
    """The gradio component of one option."""
    value = display_value(spec, value)
    common = dict(label=spec.label, elem_id=elem_id)
    if spec.value_type is bool:
        return gr.Checkbox(bool(value), **common)
    if spec.choices:
        if len(spec.choices) <= 4:
            return gr.Radio(list(spec.choices), value=value, **common)
        return gr.Dropdown(list(spec.choices), value=value, **common)
    if spec.suggest is not None:
        if spec.value_type is list:
            return gr.CheckboxGroup(spec.suggestions(), value=list(value or []), **common)
        return gr.Dropdown(spec.suggestions(), value=value, allow_custom_value=True, **common)
    if spec.value_type in (int, float) and spec.minimum is not None and spec.maximum is not None:
        step = spec.step or (1 if spec.value_type is int else 0.01)
        return gr.Slider(spec.minimum, spec.maximum, value, step=step, **common)
    if spec.value_type is int:
        return gr.Number(value, precision=0, **common)
    if spec.value_type is float:
        return gr.Number(value, **common)
    return gr.Textbox(value, placeholder="weight_decay=0.01" if spec.value_type is dict else None, **common)


def build_options(gr, specs: Sequence[OptionSpec], values: dict, prefix: str, layout: Sequence[tuple],
                  overrides: Optional[dict] = None, per_row: int = PER_ROW) -> dict:
    """Components for `specs` by option name, laid out per `layout`: (group, accordion title or None).

    `values` holds each option's initial value; `overrides` maps an option name to a function making
    its component instead (e.g. a list read from the host).
    """
    overrides = overrides or {}
    placed = {group for group, _ in layout}
    order = list(layout)
    others = [s for s in specs if s.group not in placed]
    if others:
        order.append(("__other__", OTHER_GROUP_TITLE))
    made: dict = {}
    for group, title in order:
        members = others if group == "__other__" else [s for s in specs if s.group == group]
        if not members:
            continue
        if title is None:
            _rows(gr, members, values, prefix, overrides, per_row, made)
        else:
            with gr.Accordion(title, open=False, elem_id=f"{prefix}_{group.strip('_')}_box"):
                _rows(gr, members, values, prefix, overrides, per_row, made)
    return made


def _rows(gr, specs: Sequence[OptionSpec], values: dict, prefix: str, overrides: dict, per_row: int,
          made: dict) -> None:
    for start in range(0, len(specs), per_row):
        with gr.Row():
            for spec in specs[start:start + per_row]:
                make = overrides.get(spec.name, component)
                made[spec.name] = make(gr, spec, values.get(spec.name, spec.default), f"{prefix}_{spec.name}")


def option_titles(specs: Iterable[OptionSpec]) -> dict:
    """{label: help with default}: the tooltips of the panels' option components."""
    return {spec.label: spec.help_with_default()[:1].upper() + spec.help_with_default()[1:] for spec in specs}


def titles_html(specs: Iterable[OptionSpec]) -> str:
    """A hidden element carrying `option_titles` for the tooltips script (javascript/hypernet_ext_panels.js)."""
    payload = html.escape(json.dumps(option_titles(specs)), quote=True)
    return f'<div class="hnx-option-titles" data-hnx-titles="{payload}" style="display:none"></div>'
