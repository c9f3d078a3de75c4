"""Stand-in of `modules.shared_cmd_options`: the command-line flags extensions read."""
import argparse
import os
import tempfile

parser = argparse.ArgumentParser()
parser.add_argument("--hypernetwork-dir", type=str, default=os.path.join(tempfile.gettempdir(), "webui-stub-hypernetworks"))
parser.add_argument("--textual-inversion-templates-dir", type=str, default="")
parser.add_argument("--lowvram", action="store_true")
parser.add_argument("--medvram", action="store_true")
parser.add_argument("--no-hashing", action="store_true")
parser.add_argument("--api", action="store_true")
parser.add_argument("--nowebui", action="store_true")
parser.add_argument("--freeze-settings", action="store_true")
parser.add_argument("--skip-install", action="store_true")
cmd_opts = parser.parse_args([])
