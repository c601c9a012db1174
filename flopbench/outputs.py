"""Every path a command writes goes through here: a directory of figures or a report, a file of results, a CSV, a
JSON. A missing parent directory is created; whatever stands in the way (a file where a directory is expected, a
directory where a file is, a read-only place) is one FlopbenchError naming the path, the option and the fix, so the
CLI prints one line and exits 2."""

from __future__ import annotations

import errno
from pathlib import Path

from flopbench.errors import FlopbenchError


def _in_the_way(path: Path) -> Path | None:
    """The first file among the path and its parents that stands where a directory must be."""
    return next((p for p in (path, *path.parents) if p.exists() and not p.is_dir()), None)


def _mkdir(directory: Path, option: str, what: str) -> None:
    blocking = _in_the_way(directory)
    if blocking is not None:
        raise FlopbenchError(
            f"{option} {what}: {blocking} is a file, where a directory must be; remove it or choose another {option}"
        )
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        hint = " (not writable)" if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS) else ""
        raise FlopbenchError(
            f"{option} {what}: cannot create {directory}: {exc.strerror}{hint}; choose another {option}"
        ) from None


def output_dir(path: str | Path, option: str = "--out") -> Path:
    """A directory to write into, created with its parents."""
    path = Path(path)
    _mkdir(path, option, str(path))
    return path


def output_file(path: str | Path, option: str = "--out", *, replace: bool = False) -> Path:
    """A file to write: its parent directory created. An existing file is refused unless `replace`."""
    path = Path(path)
    if path.is_dir():
        raise FlopbenchError(f"{option} {path}: is a directory; give a file name, e.g. {option} {path / 'out'}")
    if path.exists() and not replace:
        raise FlopbenchError(f"{option} {path}: exists; choose another {option}, or remove it first")
    _mkdir(path.parent, option, str(path))
    return path


def write_text(path: Path, text: str, option: str = "--out") -> None:
    """Write a whole file, or one line saying why it could not be written."""
    try:
        path.write_text(text)
    except OSError as exc:
        raise FlopbenchError(f"{option} {path}: cannot write it ({exc.strerror}); choose another {option}") from None


NAME_MAX = 64  # characters a name from a file may take in a file name (a whole name stays under the OS's 255 bytes)
_said: set[str] = set()  # names already warned about in this process


def file_name_part(text: str, what: str) -> str:
    """`text` from a file or the machine (a suite's name, a host, a device's name, an A/B axis value) as one safe
    component of a file name: letters, digits and . _ + - only (anything else a '-'), no leading dot or dash (so never
    '..' nor a hidden file), at most NAME_MAX characters, never empty ('unnamed'). So a default path built from it
    stays where the command put it: `name = "../../x"` in a suite cannot walk out of results/. A name it had to change
    is said once, in a warning naming `what` it is."""
    import re

    from flopbench.console import warn

    clean = re.sub(r"[^A-Za-z0-9._+-]+", "-", text)
    clean = re.sub(r"-{2,}", "-", clean).lstrip(".-")[:NAME_MAX].rstrip(".-") or "unnamed"
    if clean != text and text not in _said:
        _said.add(text)
        shown = text if len(text) <= NAME_MAX else text[:NAME_MAX] + "..."
        warn(f"{what} {shown!r} is not a safe file name: the default path uses {clean!r} instead")
    return clean
