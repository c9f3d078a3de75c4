"""`python -m hypernet_ext ui`: serve the standalone UI (on 127.0.0.1 unless --listen/--share say otherwise)."""
from __future__ import annotations

import argparse
import sys
from typing import Optional

from ..errors import InvalidOptionError
from ..model_arguments import add_model_options, text_conditioning_from_args

DEFAULT_PORT = 7861
LOCAL_ADDRESS = "127.0.0.1"
ALL_ADDRESSES = "0.0.0.0"
# What a reachable UI lets a visitor do: the same words in --help and in the warning printed at start.
EXPOSURE = ("can train and generate on this machine, write files into the hypernetwork and log folders, "
            "and read the images there")
LISTEN_HELP = (f"serve on {ALL_ADDRESSES} (every network interface) instead of {LOCAL_ADDRESS}, like the webui's "
               f"--listen: anyone who can reach this machine on the network {EXPOSURE}. There is no login "
               "unless --auth is given")
SHARE_HELP = (f"also make a public gradio.live link (needs internet), like the webui's --share: anyone with the "
              f"link {EXPOSURE}. There is no login unless --auth is given")
AUTH_HELP = ("require this user name and password (USER:PASS; repeat for more users) before the UI opens; "
             "the password travels unencrypted over plain http")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", default="tiny-shapes",
                        help="'tiny-shapes' (built-in model that draws coloured shapes, default), 'tiny' (random "
                             "toy weights), 'tiny-sdxl' (random SDXL-architecture toy) or an SD1/SD2/SDXL checkpoint")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help="port to serve on (default %(default)s)")
    parser.add_argument("--listen", action="store_true", help=LISTEN_HELP + " (default: off)")
    parser.add_argument("--share", action="store_true", help=SHARE_HELP + " (default: off)")
    parser.add_argument("--auth", action="append", default=None, metavar="USER:PASS",
                        help=AUTH_HELP + " (default: no login)")
    parser.add_argument("--hypernetwork-dir", default="hypernetworks", metavar="DIR",
                        help="folder of hypernetwork files (created if missing; default %(default)s)")
    parser.add_argument("--log-dir", default="training-runs", metavar="DIR",
                        help="folder for training runs: checkpoints, previews, loss logs (default %(default)s)")
    add_model_options(parser)


def parse_auth(pairs: Optional[list[str]]) -> Optional[list[tuple[str, str]]]:
    """[(user, password)] from `--auth USER:PASS` values; None when none was given."""
    if not pairs:
        return None
    logins = []
    for pair in pairs:
        user, colon, password = str(pair).partition(":")
        if not colon or not user.strip() or not password:
            raise InvalidOptionError(f"--auth {pair!r} is not USER:PASS; give a user name and a password "
                                     "separated by a colon, e.g. --auth alice:s3cret")
        logins.append((user.strip(), password))
    return logins


def exposure_warning(listen: bool, share: bool, auth: Optional[list]) -> str:
    """What --listen/--share open up (empty when the UI stays on this machine)."""
    if not (listen or share):
        return ""
    who = " and ".join(w for w, on in (("anyone on your network", listen), ("anyone with the share link", share)) if on)
    login = ("A login (--auth) is required, but http sends the password unencrypted." if auth else
             "There is NO login: add --auth USER:PASS to require one.")
    return f"WARNING: {who} {EXPOSURE}. {login}"


def run(args: argparse.Namespace) -> int:
    """Serve until Ctrl-C."""
    if not 0 < int(args.port) < 65536:
        raise InvalidOptionError(f"--port {args.port} is not a port number; use 1-65535, e.g. {DEFAULT_PORT}.")
    auth = parse_auth(args.auth)
    try:
        import gradio  # noqa: F401
    except ImportError:
        raise InvalidOptionError("The UI needs gradio 3.41: pip install -r requirements-standalone.txt") from None
    from .app import StandaloneSettings, serve
    text = text_conditioning_from_args(args)
    warning = exposure_warning(args.listen, args.share, auth)
    if warning:
        print(warning, file=sys.stderr)
    print(f"Loading model {args.model} ...")
    serve(StandaloneSettings(model=args.model, hypernetwork_dir=args.hypernetwork_dir, log_dir=args.log_dir,
                             device=args.device, prediction=args.prediction, text_conditioning=text), port=args.port,
          address=ALL_ADDRESSES if args.listen else LOCAL_ADDRESS, share=bool(args.share), auth=auth)
    return 0
