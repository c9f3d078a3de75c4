"""`python -m hypernet_ext train ...`: arguments, options from arguments, and the run.

Exit codes: 0 trained (or the schedule ended), 1 failure or divergence (message on stderr),
2 bad arguments, 130 interrupted with Ctrl-C (a checkpoint was saved first).
"""
from __future__ import annotations

import argparse
import ast
import sys

from ..errors import InvalidOptionError
from ..model_arguments import add_model_options, is_embedded_model, load_host_from_args
from ..progress import terminal_progress
from .optim import DEFAULT_OPTIMIZER
from .options import DEFAULT_LEARNING_RATE, LR_SCHEDULERS, PRECISIONS, TrainingOptions

EXIT_INTERRUPTED = 130


class UsageError(InvalidOptionError):
    """A command-line value that cannot be parsed (exit 2)."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Every `train` flag."""
    req = parser.add_argument_group("required")
    req.add_argument("--model", required=True,
                     help="'tiny-shapes' (built-in, draws shapes), 'tiny' (random toy) or an SD1/SD2 checkpoint file")
    req.add_argument("--hypernetwork", required=True, metavar="FILE", help="hypernetwork to train (.pt/.safetensors)")
    req.add_argument("--data", required=True, metavar="DIR", help="folder of training images (+ .txt captions)")
    req.add_argument("--log-dir", required=True, metavar="DIR", help="checkpoints, previews, loss CSV/PNG, settings")
    req.add_argument("--steps", required=True, type=int, metavar="N", help="train until the hypernetwork is at step N")
    opt = parser.add_argument_group("optimization")
    opt.add_argument("--lr", default=DEFAULT_LEARNING_RATE, metavar="SCHEDULE",
                     help="learning rate or webui schedule, e.g. '5e-5:100, 5e-6:1500, 5e-7' (default %(default)s)")
    opt.add_argument("--lr-scheduler", choices=LR_SCHEDULERS, default="schedule",
                     help="'cosine': cosine annealing with warm restarts peaking at the first --lr value")
    opt.add_argument("--cosine-cycle-steps", type=int, default=64, metavar="N")
    opt.add_argument("--cosine-cycle-mult", type=float, default=1.0, metavar="X")
    opt.add_argument("--cosine-warmup", type=int, default=5, metavar="N")
    opt.add_argument("--cosine-min-lr", type=float, default=6e-7, metavar="LR")
    opt.add_argument("--cosine-gamma", type=float, default=1.0, metavar="X", help="peak decay per cycle")
    opt.add_argument("--optimizer", default=DEFAULT_OPTIMIZER, help="AdamW (default), Adam, SGD, any torch.optim "
                     "name, Lion, DAdaptAdam(W), Prodigy")
    opt.add_argument("--optimizer-arg", action="append", default=[], metavar="KEY=VALUE",
                     help="extra optimizer argument, e.g. weight_decay=0.0 or betas=(0.9,0.99); repeatable")
    opt.add_argument("--clip", metavar="norm:V|value:V", help="gradient clipping; V may be a schedule")
    opt.add_argument("--batch-size", type=int, default=1, metavar="B")
    opt.add_argument("--grad-accum", type=int, default=1, metavar="K")
    opt.add_argument("--precision", choices=PRECISIONS, default="fp32")
    opt.add_argument("--gradient-checkpointing", action="store_true", help="save memory, cost ~1 extra forward")
    opt.add_argument("--seed", type=int, default=0, metavar="S")
    opt.add_argument("--resume", action="store_true", help="continue exactly from FILE and its .optim sidecar")
    data = parser.add_argument_group("data")
    data.add_argument("--template", default="style_filewords", metavar="FILE", help="built-in name or .txt path")
    size = data.add_mutually_exclusive_group()
    size.add_argument("--size", metavar="WxH", help="training size (default 512x512; 64x64 for --model tiny)")
    size.add_argument("--buckets", action="store_true", help="aspect-ratio buckets of about 512x512 pixels (64x64 for tiny) instead of one size")
    data.add_argument("--resize", choices=("crop", "stretch", "fit"), default="crop")
    data.add_argument("--shuffle-tags", action="store_true")
    data.add_argument("--keep-first-tags", type=int, default=0, metavar="N")
    data.add_argument("--tag-dropout", type=float, default=0.0, metavar="P")
    data.add_argument("--latent-sampling", choices=("once", "deterministic", "random"), default="once")
    data.add_argument("--flip", action="store_true", help="random horizontal flips")
    data.add_argument("--alpha-weight", action="store_true", help="use PNG alpha as loss weight")
    data.add_argument("--recursive", action="store_true", help="also read images in sub-folders")
    out = parser.add_argument_group("outputs")
    out.add_argument("--save-every", type=int, default=500, metavar="N")
    out.add_argument("--preview-every", type=int, default=500, metavar="N")
    out.add_argument("--preview-prompt", metavar="TEXT", help="default: the first caption of the batch")
    out.add_argument("--preview-negative", default="", metavar="TEXT")
    out.add_argument("--preview-steps", type=int, default=20, metavar="N")
    out.add_argument("--preview-seed", type=int, default=None, metavar="S", help="default: --seed")
    out.add_argument("--csv-every", type=int, default=1, metavar="N")
    out.add_argument("--tensorboard", action="store_true")
    out.add_argument("--save-to-source", action="store_true",
                     help="when training ends normally, also write the result over FILE (the webui always did)")
    out.add_argument("--loss-guard", type=float, default=None, metavar="LOSS",
                     help="stop when the loss stays above LOSS (0.3 suits SD models); NaN/inf always stops")
    out.add_argument("--loss-guard-steps", type=int, default=20, metavar="N")
    add_model_options(parser)


def parse_size(text: str) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in text.lower().replace("×", "x").split("x"))
        return w, h
    except ValueError:
        raise UsageError(f"--size {text!r} is not WIDTHxHEIGHT, e.g. 512x512.") from None


def parse_clip(text: str | None) -> tuple[str, str]:
    if not text:
        return "none", "0.1"
    mode, _, value = text.partition(":")
    if mode not in ("norm", "value") or not value.strip():
        raise UsageError(f"--clip {text!r} must be 'norm:V' or 'value:V', e.g. norm:1.0 or value:0.1.")
    return mode, value


def parse_optimizer_args(items: list[str]) -> dict:
    out = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip().isidentifier():
            raise UsageError(f"--optimizer-arg {item!r} must be KEY=VALUE, e.g. weight_decay=0.0.")
        try:
            out[key.strip()] = ast.literal_eval(raw.strip())
        except (ValueError, SyntaxError):
            out[key.strip()] = raw.strip()
    return out


def options_from_args(args: argparse.Namespace, hypernetwork_name: str) -> TrainingOptions:
    from .data import DataOptions
    from .host import PreviewParams
    default_size = "64x64" if is_embedded_model(args.model) else "512x512"
    width, height = parse_size(args.size or default_size)
    data = DataOptions(args.data, hypernetwork_name, template=args.template, width=width, height=height,
                       resize=args.resize, buckets=args.buckets, batch_size=args.batch_size,
                       shuffle_tags=args.shuffle_tags, keep_first_tags=args.keep_first_tags,
                       tag_dropout=args.tag_dropout, flip=args.flip, latent_sampling=args.latent_sampling,
                       use_alpha_weight=args.alpha_weight, seed=args.seed, recursive=args.recursive)
    clip_mode, clip_value = parse_clip(args.clip)
    preview = None
    if args.preview_prompt is not None:
        preview = PreviewParams(args.preview_prompt, args.preview_negative, steps=args.preview_steps,
                                seed=args.seed if args.preview_seed is None else args.preview_seed,
                                width=width, height=height)
    return TrainingOptions(
        hypernetwork=args.hypernetwork, log_dir=args.log_dir, steps=args.steps, data=data, learning_rate=args.lr,
        lr_scheduler=args.lr_scheduler, cosine_cycle_steps=args.cosine_cycle_steps,
        cosine_cycle_mult=args.cosine_cycle_mult, cosine_warmup=args.cosine_warmup,
        cosine_min_lr=args.cosine_min_lr, cosine_gamma=args.cosine_gamma, grad_clip=clip_mode,
        grad_clip_value=clip_value, optimizer=args.optimizer, optimizer_args=parse_optimizer_args(args.optimizer_arg),
        grad_accum=args.grad_accum, precision=args.precision, gradient_checkpointing=args.gradient_checkpointing,
        save_every=args.save_every, preview_every=args.preview_every, preview=preview, resume=args.resume,
        save_final_to_source=args.save_to_source, loss_guard_threshold=args.loss_guard,
        loss_guard_steps=args.loss_guard_steps, csv_every=args.csv_every, tensorboard=args.tensorboard)


def run(args: argparse.Namespace) -> int:
    """Validate, load the model, train. Raises InvalidOptionError (exit 2) / HypernetError (exit 1)."""
    from ..storage import read_header
    header = read_header(args.hypernetwork) if _is_file(args.hypernetwork) else {"name": "hypernetwork"}
    options = options_from_args(args, header["name"]).validate()
    from .trainer import train_hypernetwork
    print(f"Loading model {args.model} ...", file=sys.stderr)
    host = load_host_from_args(args)
    result = train_hypernetwork(host, options, terminal_progress(options.steps, "Training"))
    stream = sys.stdout if result.stopped in ("finished", "schedule-finished") else sys.stderr
    print(result.message, file=stream)
    if result.stopped == "interrupted":
        return EXIT_INTERRUPTED
    return 1 if result.stopped == "diverged" else 0


def _is_file(path: str) -> bool:
    from pathlib import Path
    return bool(path) and Path(path).is_file()

