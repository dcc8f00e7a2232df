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


class ConfigError(PhymoError, ValueError):
    """A setting that cannot work. ``setting`` is its field name (``overlap``) and the message is that name
    followed by ``problem`` (its valid range, what was given), so that a caller with other spellings for the
    settings (the command line's ``--overlap``) can put its own in its place."""

    def __init__(self, setting: str, problem: str) -> None:
        super().__init__(setting, problem)
        self.setting, self.problem = setting, problem

    def __str__(self) -> str:
        return f"{self.setting} {self.problem}"


def check_range(name: str, value, low=None, high=None, *, strict_low: bool = False, strict_high: bool = False,
                hint: str = "") -> None:
    """Raise :class:`ConfigError` for setting ``name`` unless ``low <= value <= high`` (``<`` where strict; None:
    unbounded)."""
    too_low = low is not None and (value <= low if strict_low else value < low)
    too_high = high is not None and (value >= high if strict_high else value > high)
    if not (too_low or too_high) and value == value:  # NaN compares false to everything
        return
    parts = []
    if low is not None:
        parts.append(f"{'>' if strict_low else '>='} {low}")
    if high is not None:
        parts.append(f"{'<' if strict_high else '<='} {high}")
    kind = "an integer" if isinstance(value, int) and not isinstance(value, bool) else "a number"
    raise ConfigError(name, f"must be {kind} {' and '.join(parts)}{f' ({hint})' if hint else ''}, got {value}")
