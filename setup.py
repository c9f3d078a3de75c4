"""Packaging hook: the panels' script and stylesheet live where the webui loads them (javascript/,
style.css at the repository root); an installed package carries a copy in hypernet_ext/ui/assets."""
import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
ASSETS = [*sorted((ROOT / "javascript").glob("*.js")), ROOT / "style.css"]


class BuildWithAssets(build_py):
    def run(self):
        super().run()
        target = Path(self.build_lib) / "hypernet_ext" / "ui" / "assets"
        target.mkdir(parents=True, exist_ok=True)
        for asset in ASSETS:
            shutil.copyfile(asset, target / asset.name)


setup(cmdclass={"build_py": BuildWithAssets})
