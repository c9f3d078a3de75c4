"""`hypernet_ext ui --listen/--share/--auth`: what the help and the start-up warning say, and what is served."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from hypernet_ext.cli import build_parser, main
from hypernet_ext.errors import InvalidOptionError
from hypernet_ext.ui.command import exposure_warning, parse_auth

REPO = Path(__file__).resolve().parents[1]


def test_help_says_what_listen_share_and_auth_do_to_safety(capsys):
    with pytest.raises(SystemExit):
        main(["ui", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    text = text[text.index("options:"):]
    listen = text[text.index("--listen "):text.index("--share ")]
    share = text[text.index("--share "):text.index("--auth USER:PASS")]
    for part, who in ((listen, "anyone who can reach this machine on the network"), (share, "anyone with the link")):
        assert who in part and "write files into the hypernetwork and log folders" in part
        assert "read the images there" in part and "no login unless --auth" in part and "(default: off)" in part
    assert "USER:PASS" in text and "(default: no login)" in text


def test_defaults_keep_the_ui_on_this_machine():
    args = build_parser().parse_args(["ui"])
    assert (args.listen, args.share, args.auth) == (False, False, None)
    assert exposure_warning(False, False, None) == ""


def test_warning_names_who_can_reach_the_ui_and_whether_a_login_is_needed():
    both = exposure_warning(True, True, None)
    assert both.startswith("WARNING: anyone on your network and anyone with the share link can train")
    assert "There is NO login: add --auth USER:PASS" in both
    assert "A login (--auth) is required" in exposure_warning(True, False, [("a", "b")])


def test_auth_pairs_are_parsed_and_bad_ones_name_the_flag():
    assert parse_auth(["alice:s3:cret", " bob :pw"]) == [("alice", "s3:cret"), ("bob", "pw")]
    assert parse_auth(None) is None
    for bad in ("alice", ":pw", "alice:"):
        with pytest.raises(InvalidOptionError, match="--auth .* is not USER:PASS"):
            parse_auth([bad])


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _listening_addresses(port: int) -> set[str]:
    """Local IPv4 addresses (hex, as /proc/net/tcp writes them) listening on `port`."""
    found = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        address, hex_port = fields[1].split(":")
        if int(hex_port, 16) == port and fields[3] == "0A":  # 0A: LISTEN
            found.add(address)
    return found


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/net/tcp").exists(), reason="reads listening sockets from Linux's /proc/net/tcp")
def test_listen_serves_on_every_interface_behind_the_login(tmp_path):
    pytest.importorskip("gradio")
    port = _free_port()
    log = open(tmp_path / "ui.log", "w")
    process = subprocess.Popen(
        [sys.executable, "-m", "hypernet_ext", "ui", "--model", "tiny", "--port", str(port), "--listen",
         "--auth", "alice:s3cret", "--hypernetwork-dir", str(tmp_path / "hn"), "--log-dir", str(tmp_path / "runs")],
        cwd=REPO, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "GRADIO_ANALYTICS_ENABLED": "False"})
    try:
        for _ in range(600):
            assert process.poll() is None, (tmp_path / "ui.log").read_text()
            if _listening_addresses(port):
                break
            time.sleep(0.25)
        assert _listening_addresses(port) == {"00000000"}  # 0.0.0.0, not only 127.0.0.1
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/config", timeout=10)
        assert refused.value.code == 401  # nothing without the login
        assert "WARNING: anyone on your network can train" in (tmp_path / "ui.log").read_text()
    finally:
        process.terminate()
        process.wait(20)
