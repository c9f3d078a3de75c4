"""Stand-in of the parts of `modules.util` the Extra Networks pages use."""
import os


class MassFileLister:
    """Answers `exists` and `mctime` questions about files (the webui caches directory listings)."""

    def exists(self, path: str) -> bool:
        return os.path.exists(path)

    def mctime(self, path: str) -> tuple[float, float]:
        try:
            stat = os.stat(path)
        except OSError:
            return 0.0, 0.0
        return stat.st_mtime, stat.st_ctime

    def reset(self) -> None:
        pass
