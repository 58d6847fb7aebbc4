"""Two languages, Turkish first: gettext catalogs, the current language, Turkish text rules.

Every string a person sees is a message id looked up in ``locales/<lang>/LC_MESSAGES/
paynet_ops.po`` (kept with Babel: ``bash scripts/i18n``). The current language is a context
variable: the dashboard sets it for each script run, the CLI from ``PAYNET_OPS_LANG`` (else
``LANG``), so the same core code speaks to each person in their language, thread by thread.

Catalogs are compiled at first use when the ``.mo`` file is missing or older than its ``.po``
(compiled files are never committed, so they cannot go stale).
"""

from __future__ import annotations

import contextvars
import gettext as _gettext
import os
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from .text import tr_casefold, tr_contains, tr_sort_key

__all__ = [
    "Bilingual",
    "DEFAULT_LANGUAGE",
    "LANGUAGES",
    "Message",
    "N_",
    "_",
    "current_language",
    "language_from_env",
    "ngettext",
    "normalize_language",
    "set_language",
    "tr_casefold",
    "tr_contains",
    "tr_sort_key",
    "using_language",
]

LANGUAGES = ("tr", "en")
DEFAULT_LANGUAGE = "tr"
DOMAIN = "paynet_ops"
LOCALES = Path(__file__).parent / "locales"

_language: contextvars.ContextVar[str] = contextvars.ContextVar(
    "paynet_ops_language", default=DEFAULT_LANGUAGE
)
_catalogs: dict[str, _gettext.NullTranslations] = {}
_lock = threading.Lock()


def normalize_language(value: str | None) -> str | None:
    """``"tr-TR"``, ``"tr_TR.UTF-8"``, ``"EN"`` → ``"tr"`` / ``"en"``; anything else → None."""
    if not value:
        return None
    code = value.strip().replace("-", "_").split(".")[0].split("_")[0].lower()
    return code if code in LANGUAGES else None


def language_from_env(env: Mapping[str, str] | None = None) -> str:
    """The CLI's language, read once at start: ``PAYNET_OPS_LANG`` (``tr``/``en``) when set to one
    of them; else ``LANG``: Turkish when it starts with ``tr`` (``tr_TR.UTF-8``), English for any
    other locale (``en_US.UTF-8``, ``C.UTF-8``, ``de_DE``); Turkish when neither is set."""
    env = os.environ if env is None else env
    chosen = normalize_language(env.get("PAYNET_OPS_LANG"))
    if chosen:
        return chosen
    lang = (env.get("LANG") or "").strip()
    if not lang:
        return DEFAULT_LANGUAGE
    return "tr" if lang.lower().startswith("tr") else "en"


def current_language() -> str:
    return _language.get()


def set_language(language: str | None) -> str:
    """Set the language of this context (a script run, a CLI call); returns what was set."""
    chosen = normalize_language(language) or DEFAULT_LANGUAGE
    _language.set(chosen)
    return chosen


@contextmanager
def using_language(language: str) -> Iterator[str]:
    token = _language.set(normalize_language(language) or DEFAULT_LANGUAGE)
    try:
        yield _language.get()
    finally:
        _language.reset(token)


def _catalog(language: str) -> _gettext.NullTranslations:
    with _lock:
        found = _catalogs.get(language)
        if found is None:
            found = _catalogs[language] = _load(language)
        return found


def _load(language: str) -> _gettext.NullTranslations:
    po = LOCALES / language / "LC_MESSAGES" / f"{DOMAIN}.po"
    mo = po.with_suffix(".mo")
    if not po.is_file():
        return _gettext.NullTranslations()
    if not mo.is_file() or mo.stat().st_mtime < po.stat().st_mtime:
        compile_catalog(po, mo)
    with mo.open("rb") as f:
        return _gettext.GNUTranslations(f)


def compile_catalog(po: Path, mo: Path) -> None:
    """``pybabel compile`` for one catalog, written atomically (several processes may start at
    once)."""
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    with po.open("rb") as f:
        catalog = read_po(f, locale=po.parents[1].name)
    tmp = mo.with_suffix(f".mo.{os.getpid()}.tmp")
    try:
        with tmp.open("wb") as f:
            write_mo(f, catalog, use_fuzzy=False)
        os.replace(tmp, mo)
    except OSError:
        tmp.unlink(missing_ok=True)
        raise


def _(message: str, /, **params: Any) -> str:
    """``message`` in the current language, with ``{name}`` placeholders filled from ``params``."""
    text = _catalog(current_language()).gettext(message)
    return text.format(**params) if params else text


def ngettext(singular: str, plural: str, n: int, /, **params: Any) -> str:
    text = _catalog(current_language()).ngettext(singular, plural, n)
    return text.format(n=n, **params)


def N_(message: str, /) -> str:
    """Marks a message for extraction where it is defined; translated where it is shown."""
    return message


class Message:
    """A message id with its parameters, rendered in the language current when it is shown.

    Errors carry one, so ``str(err)`` speaks the language of whoever reads it (a page banner,
    a CLI line), not of whoever raised it.
    """

    __slots__ = ("msgid", "params")

    def __init__(self, msgid: str, /, **params: Any):
        self.msgid = msgid
        self.params = params

    def __str__(self) -> str:
        params = {k: (str(v) if isinstance(v, Message) else v) for k, v in self.params.items()}
        return _(self.msgid, **params)

    def __repr__(self) -> str:
        return f"Message({self.msgid!r}, **{self.params!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Message) and (other.msgid, other.params) == (
            self.msgid,
            self.params,
        )

    def __hash__(self) -> int:
        return hash(self.msgid)

    def __reduce__(self):
        return (_rebuild_message, (self.msgid, self.params))


def _rebuild_message(msgid: str, params: dict[str, Any]) -> Message:
    return Message(msgid, **params)


class Bilingual:
    """A text kept in both languages where it is defined (a provider's code table), rendered in
    the language current when it is shown, like a :class:`Message`."""

    __slots__ = ("en", "tr")

    def __init__(self, en: str, tr: str):
        self.en, self.tr = en, tr

    def __str__(self) -> str:
        return self.tr if current_language() == "tr" else self.en

    def __repr__(self) -> str:
        return f"Bilingual({self.en!r}, {self.tr!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Bilingual) and (other.en, other.tr) == (self.en, self.tr)

    def __hash__(self) -> int:
        return hash(self.en)

    def __reduce__(self):
        return (Bilingual, (self.en, self.tr))
