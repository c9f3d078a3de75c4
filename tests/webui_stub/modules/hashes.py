"""Stand-in of `modules.hashes` (sha256 with the webui's cache; here an in-memory cache)."""
import hashlib

_cache: dict[str, str] = {}


def sha256_from_cache(filename, title, use_addnet_hash=False):
    return _cache.get(title)


def sha256(filename, title, use_addnet_hash=False):
    if title not in _cache:
        with open(filename, "rb") as f:
            _cache[title] = hashlib.sha256(f.read()).hexdigest()
    return _cache[title]
