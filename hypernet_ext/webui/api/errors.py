"""Turn the extension's errors into 4xx JSON responses instead of the webui's generic 500."""
from __future__ import annotations

import functools
from typing import Callable

from fastapi import HTTPException

from ...errors import HypernetError


class ConflictError(HypernetError):
    """The request would overwrite something that exists (HTTP 409)."""


class NotFoundError(HypernetError):
    """The request names something that does not exist (HTTP 404)."""


def status_for(exc: Exception) -> int:
    if isinstance(exc, ConflictError):
        return 409
    if isinstance(exc, NotFoundError):
        return 404
    return 400


def json_errors(func: Callable) -> Callable:
    """Run a route; `HypernetError` becomes an HTTPException with the message as `detail`."""
    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            from .paths import apply_limit_settings
            apply_limit_settings()
            return func(*args, **kwargs)
        except HypernetError as exc:
            raise HTTPException(status_code=status_for(exc), detail=str(exc)) from None
        except (ValueError, OverflowError, UnicodeError, RecursionError) as exc:
            # a value no check caught (NUL in a path, 1e30 where an int goes, ...): the request's fault
            raise HTTPException(status_code=400, detail=f"Invalid value in the request: {str(exc)[:300]}") from None
        except OSError as exc:
            raise HTTPException(status_code=400, detail=f"Cannot use {exc.filename or 'the path'}: "
                                                        f"{exc.strerror or exc}") from None
    return wrapper
