"""Stand-in of `modules.ui_extra_networks`: page registry and the ExtraNetworksPage helpers.

The HTML rendering of the real module is left out; the item dictionaries pages produce, the
preview/description lookup and the preview-directory allow-list are kept.
"""
import functools
import os
import urllib.parse
from pathlib import Path

from modules import extra_networks, shared, util

extra_pages: list = []
allowed_dirs: set = set()
default_allowed_preview_extensions = ["png", "jpg", "jpeg", "webp", "gif"]


@functools.cache
def allowed_preview_extensions_with_extra(extra_extensions=None):
    return set(default_allowed_preview_extensions) | set(extra_extensions or [])


def allowed_preview_extensions():
    return allowed_preview_extensions_with_extra((shared.opts.samples_format,))


def register_page(page):
    extra_pages.append(page)
    allowed_dirs.clear()
    allowed_dirs.update(set(sum([x.allowed_directories_for_previews() for x in extra_pages], [])))


def quote_js(s):
    s = s.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{s}"'


class ExtraNetworksPage:
    def __init__(self, title):
        self.title = title
        self.name = title.lower()
        self.extra_networks_tabname = self.name.replace(" ", "_")
        self.allow_prompt = True
        self.allow_negative_prompt = False
        self.metadata = {}
        self.items = {}
        self.lister = util.MassFileLister()

    def refresh(self):
        pass

    def read_user_metadata(self, item, use_cache=True):
        metadata = extra_networks.get_user_metadata(item.get("filename"), lister=self.lister if use_cache else None)
        if metadata.get("description") is not None:
            item["description"] = metadata["description"]
        item["user_metadata"] = metadata

    def link_preview(self, filename):
        quoted = urllib.parse.quote(filename.replace("\\", "/"))
        mtime, _ = self.lister.mctime(filename)
        return f"./sd_extra_networks/thumb?filename={quoted}&mtime={mtime}"

    def search_terms_from_path(self, filename, possible_directories=None):
        abspath = os.path.abspath(filename)
        dirs = possible_directories if possible_directories is not None else self.allowed_directories_for_previews()
        for parentdir in dirs:
            parentdir = os.path.dirname(os.path.abspath(parentdir))
            if abspath.startswith(parentdir):
                return os.path.relpath(abspath, parentdir)
        return ""

    def create_item(self, name, index=None):
        raise NotImplementedError()  # abstract, as in the webui

    def list_items(self):
        raise NotImplementedError()  # abstract, as in the webui

    def allowed_directories_for_previews(self):
        return []

    def get_sort_keys(self, path):
        pth = Path(path)
        mtime, ctime = self.lister.mctime(path)
        return {"date_created": int(mtime), "date_modified": int(ctime), "name": pth.name.lower(),
                "path": str(pth).lower()}

    def find_preview(self, path):
        for ext in allowed_preview_extensions():
            for file in (f"{path}.{ext}", f"{path}.preview.{ext}"):
                if self.lister.exists(file):
                    return self.link_preview(file)
        return None

    def find_description(self, path):
        for file in (f"{path}.txt", f"{path}.description.txt"):
            if self.lister.exists(file):
                try:
                    with open(file, "r", encoding="utf-8", errors="replace") as f:
                        return f.read()
                except OSError:
                    pass
        return None


def initialize():
    extra_pages.clear()


def register_default_pages():
    from modules.ui_extra_networks_hypernets import ExtraNetworksPageHypernetworks
    register_page(ExtraNetworksPageHypernetworks())
