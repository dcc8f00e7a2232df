"""Typed errors for failures a user can cause; the CLI turns them into one clear message."""

from pathlib import Path


class PhymoError(Exception):
    """Base class: the message names the file (where there is one), the problem and the fix."""


class DataFormatError(PhymoError):
    """An input file exists but its content is not what the format requires."""


class InputNotFoundError(PhymoError, FileNotFoundError):
    """A file or folder the user named does not exist."""


def require_file(path: str | Path) -> Path:
    """Return ``path`` as a ``Path`` if it is an existing file, else raise :class:`InputNotFoundError`."""
    p = Path(path)
    if not p.exists():
        raise InputNotFoundError(f"{p}: no such file")
    if not p.is_file():
        raise InputNotFoundError(f"{p}: is not a file")
    return p
