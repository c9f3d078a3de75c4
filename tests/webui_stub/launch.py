"""Stand-in of the webui's `launch` module as seen by an extension's install.py."""
import importlib.metadata
import importlib.util

pip_commands: list[tuple[str, str]] = []


def is_installed(package):
    try:
        return importlib.metadata.distribution(package) is not None
    except importlib.metadata.PackageNotFoundError:
        try:
            return importlib.util.find_spec(package) is not None
        except ModuleNotFoundError:
            return False


def run_pip(command, desc=None, live=False):
    pip_commands.append((command, desc))
    return ""
