"""Are the catalogs complete? ``python -m paynet_core.i18n.check`` (also run by the tests).

Problems found: a message in the code that a catalog lacks, a message without a Turkish
translation, a translation whose ``{placeholders}`` differ from its source (it would fail or
show the wrong figure at run time).
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from . import DOMAIN, LOCALES

ROOT = Path(__file__).resolve().parents[2]
KEYWORDS = {"_": None, "N_": None, "ngettext": (1, 2), "Message": None}
_PLACEHOLDER = re.compile(r"(?<!\{)\{([a-zA-Z_][a-zA-Z0-9_]*)(?:[:!][^}]*)?\}(?!\})")


def code_messages(roots: tuple[Path, ...] = (ROOT / "paynet_core", ROOT / "dashboard")) -> set[str]:
    """Every message id the code marks for translation (what ``pybabel extract`` finds)."""
    from babel.messages.extract import extract_from_dir

    found: set[str] = set()
    for folder in roots:
        for _file, _line, message, _comments, _context in extract_from_dir(
            folder, method_map=[("**.py", "python")], keywords=KEYWORDS
        ):
            for msgid in message if isinstance(message, tuple) else (message,):
                if msgid:
                    found.add(msgid)
    return found


def read_catalog(language: str, locales: Path = LOCALES) -> dict[str, str | tuple[str, ...]]:
    from babel.messages.pofile import read_po

    po = locales / language / "LC_MESSAGES" / f"{DOMAIN}.po"
    with po.open("rb") as f:
        catalog = read_po(f, locale=language)
    out: dict[str, str | tuple[str, ...]] = {}
    for message in catalog:
        if not message.id:
            continue
        # babel types ids and strings loosely: a plural message has tuples (or lists) of them
        ids = tuple(message.id) if isinstance(message.id, (tuple, list)) else (message.id,)
        string = message.string
        out_string = tuple(string) if isinstance(string, (tuple, list)) else (string or "")
        for msgid in ids:
            out[msgid] = out_string
    return out


def placeholders(text: str) -> set[str]:
    return set(_PLACEHOLDER.findall(text))


def problems(locales: Path = LOCALES, in_code: set[str] | None = None) -> list[str]:
    found: list[str] = []
    in_code = code_messages() if in_code is None else in_code
    tr, en = read_catalog("tr", locales), read_catalog("en", locales)
    for msgid in sorted(in_code - set(en)):
        found.append(f"not in the en catalog (run bash scripts/i18n): {msgid!r}")
    for msgid in sorted(set(en) | in_code):
        translation = tr.get(msgid)
        texts = translation if isinstance(translation, tuple) else (translation or "",)
        if not translation or not all(texts):
            found.append(f"no Turkish translation: {msgid!r}")
            continue
        for text in texts:
            if placeholders(text) != placeholders(msgid):
                found.append(
                    f"placeholders differ in the Turkish of {msgid!r}: "
                    f"{sorted(placeholders(text))} vs {sorted(placeholders(msgid))}"
                )
    return found


def main() -> int:
    issues = problems()
    for line in issues:
        print(line)
    print(f"{len(code_messages())} messages; {len(issues)} problem(s)")
    return 1 if issues else 0


if __name__ == "__main__":
    sys.exit(main())
