"""One way for the CLI to print, and one check for every ``--out`` file.

Data (provider replies, file names, headers, cells, SQL results, paths) is never parsed as
rich markup, so a ``[/]`` in a customer name prints as typed instead of raising MarkupError;
and control characters in it are shown as escapes (``\\x1b``), so a provider cannot drive the
terminal (an OSC 52 sequence in a name would otherwise write to the clipboard).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from rich.console import Console
from rich.text import Text

console = Console(markup=False, highlight=False, emoji=False)
err_console = Console(stderr=True, markup=False, highlight=False, emoji=False)

# C0 except tab and newline handled apart, DEL, C1, and the bidi overrides/isolates that can
# reorder what a terminal shows (Trojan Source).
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group(0))
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def visible(text: object) -> str:
    """``text`` with every control character (newlines included) written as an escape."""
    return "" if text is None else _CONTROL.sub(_escape, str(text))


def styled(*parts: str | tuple[str, str]) -> Text:
    """Our own words with a style, data beside them made :func:`visible` (never markup).

    ``styled(("Error:", "red"), " ", message)``: tuples are (our text, style); plain strings
    are data.
    """
    text = Text()
    for part in parts:
        if isinstance(part, tuple):
            text.append(part[0], style=part[1])
        else:
            text.append(visible(part))
    return text


# -- --out ---------------------------------------------------------------------------------------


class OutPathError(Exception):
    """A --out file that must not or cannot be written; the message says why and what to do."""


def check_out_path(path: Path | str, *, force: bool = False) -> Path:
    """Where a command may write ``path``, or :class:`OutPathError` saying why not.

    Refused: the cache or the sandbox database (or their -wal/-shm/-journal files), whatever
    the path is called; a directory; a file that exists, unless ``force``; a folder that does
    not exist or cannot be written.
    """
    path = Path(path)
    if not str(path).strip():
        raise OutPathError("--out needs a file name")
    try:
        return _check(path, force)
    except (OSError, ValueError) as exc:  # a name the file system refuses (too long, NUL...)
        reason = getattr(exc, "strerror", None) or str(exc)
        # the OS's reason is in the message; its errno and repeated path would be noise
        raise OutPathError(f"{visible(path)} cannot be used as a file name: {reason}") from None


def _check(path: Path, force: bool) -> Path:
    resolved = path.expanduser().resolve()
    if resolved in _protected():
        raise OutPathError(
            f"{visible(path)} is paynet-ops' own database; write the export somewhere else"
        )
    if resolved.is_dir():
        raise OutPathError(
            f"{visible(path)} is a directory; give a file name, e.g. {visible(path / 'export.csv')}"
        )
    if resolved.exists() and not force:
        raise OutPathError(f"{visible(path)} already exists; use --force to overwrite it")
    if resolved.exists() and not resolved.is_file():
        raise OutPathError(f"{visible(path)} is not a regular file")
    parent = resolved.parent
    while not parent.exists():  # missing folders are made; the first existing one must allow it
        parent = parent.parent
    if not parent.is_dir():
        raise OutPathError(f"{visible(parent)} is a file, not a folder")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise OutPathError(f"the folder {visible(parent)} is not writable")
    return path


def _protected() -> set[Path]:
    from ..config import load_settings

    settings = load_settings()
    paths: set[Path] = set()
    for db in (settings.db_path, settings.sandbox_db_path):
        base = Path(db).expanduser().resolve()
        paths.update(base.with_name(base.name + tail) for tail in ("", "-wal", "-shm", "-journal"))
    return paths
