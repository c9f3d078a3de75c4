"""Stand-in of the webui's built-in `scripts/xyz_grid.py` (X/Y/Z plot), reduced to what axes see.

Mirrored from webui v1.10: the `AxisOption(label, type, apply, format_value=format_value_add_label,
confirm=None, cost=0.0, choices=None, prepare=None)` signature and attributes; the module-level
`axis_options` list that extensions extend; `ui()` keeping the options whose type is exactly
`AxisOption` (plus txt2img/img2img variants) in `current_axis_options`; axis types passed to `run`
as indexes into that list; values parsed as CSV (`csv_mode`) or taken from the dropdown when the
option has `choices`, then converted with `opt.type` and checked with `opt.confirm(p, values)`; each
cell is a shallow `copy(p)` on which the X, then Y, then Z option's `apply(pc, value, values)` runs
before `process_images`. Not mirrored: numeric ranges ("1-5", "[1..5]"), seed fixing, cost-based
ordering, grid drawing and saving (the cells and their labels are returned instead).
"""
import csv
from copy import copy
from io import StringIO
from itertools import chain

from modules import processing, scripts


def apply_field(field):
    def fun(p, x, xs):
        setattr(p, field, x)
    return fun


def apply_prompt(p, x, xs):
    if xs[0] not in p.prompt and xs[0] not in p.negative_prompt:
        raise RuntimeError(f"Prompt S/R did not find {xs[0]} in prompt or negative prompt.")
    p.prompt = p.prompt.replace(xs[0], x)
    p.negative_prompt = p.negative_prompt.replace(xs[0], x)


def do_nothing(p, x, xs):
    pass


def format_value_add_label(p, opt, x):
    if type(x) == float:
        x = round(x, 8)
    return f"{opt.label}: {x}"


def format_value(p, opt, x):
    if type(x) == float:
        x = round(x, 8)
    return x


def format_nothing(p, opt, x):
    return ""


def list_to_csv_string(data_list):
    with StringIO() as o:
        csv.writer(o).writerow(data_list)
        return o.getvalue().strip()


def csv_string_to_list_strip(data_str):
    return list(map(str.strip, chain.from_iterable(csv.reader(StringIO(data_str), skipinitialspace=True))))


class AxisOption:
    def __init__(self, label, type, apply, format_value=format_value_add_label, confirm=None, cost=0.0, choices=None,
                 prepare=None):
        self.label = label
        self.type = type
        self.apply = apply
        self.format_value = format_value
        self.confirm = confirm
        self.cost = cost
        self.prepare = prepare
        self.choices = choices


class AxisOptionImg2Img(AxisOption):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.is_img2img = True


class AxisOptionTxt2Img(AxisOption):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.is_img2img = False


axis_options = [
    AxisOption("Nothing", str, do_nothing, format_value=format_nothing),
    AxisOption("Seed", int, apply_field("seed")),
    AxisOption("Steps", int, apply_field("steps")),
    AxisOptionTxt2Img("Hires steps", int, apply_field("hr_second_pass_steps")),
    AxisOption("CFG Scale", float, apply_field("cfg_scale")),
    AxisOption("Prompt S/R", str, apply_prompt, format_value=format_value),
]


class Script(scripts.Script):
    def title(self):
        return "X/Y/Z plot"

    def ui(self, is_img2img):
        self.current_axis_options = [x for x in axis_options if type(x) == AxisOption or x.is_img2img == is_img2img]
        return [x.label for x in self.current_axis_options]  # the webui returns gradio components here

    def run(self, p, x_type, x_values, x_values_dropdown, y_type=0, y_values="", y_values_dropdown=None, z_type=0,
            z_values="", z_values_dropdown=None, csv_mode=False):
        """Returns [(labels (x, y, z), processed)] per cell, z outermost, x innermost."""
        def process_axis(opt, vals, vals_dropdown):
            if opt.label == "Nothing":
                return [0]
            if opt.choices is not None and not csv_mode:
                valslist = vals_dropdown
            elif opt.prepare is not None:
                valslist = opt.prepare(vals)
            else:
                valslist = csv_string_to_list_strip(vals)
            valslist = [opt.type(x) for x in valslist]
            if opt.confirm:
                opt.confirm(p, valslist)
            return valslist

        opts_and_values = []
        for axis_type, values, dropdown in ((x_type, x_values, x_values_dropdown), (y_type, y_values, y_values_dropdown),
                                            (z_type, z_values, z_values_dropdown)):
            opt = self.current_axis_options[axis_type or 0]
            if opt.choices is not None and not csv_mode:
                values = list_to_csv_string(dropdown or [])
            opts_and_values.append((opt, process_axis(opt, values, dropdown or [])))
        (x_opt, xs), (y_opt, ys), (z_opt, zs) = opts_and_values
        cells = []
        for z in zs:
            for y in ys:
                for x in xs:
                    pc = copy(p)
                    pc.extra_generation_params = copy(pc.extra_generation_params)
                    x_opt.apply(pc, x, xs)
                    y_opt.apply(pc, y, ys)
                    z_opt.apply(pc, z, zs)
                    labels = tuple(o.format_value(pc, o, v) for o, v in ((x_opt, x), (y_opt, y), (z_opt, z)))
                    cells.append((labels, processing.process_images(pc)))
        return cells
