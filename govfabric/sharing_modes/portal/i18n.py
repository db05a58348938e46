"""Portal languages with python's gettext: Chinese by default, English on request.

Templates are written with English message ids (``{{ _("Search") }}``); the Chinese catalog is
``locale/zh/LC_MESSAGES/portal.po``, read here (a small .po reader: no compile step, no Babel)."""

from __future__ import annotations

import ast
import gettext
from functools import cache
from pathlib import Path

LANGS = ("zh", "en")
DEFAULT = "zh"
LANG_COOKIE = "gf_lang"
_LOCALE = Path(__file__).parent / "locale"


class PoTranslations(gettext.NullTranslations):
    """A catalog read from a .po file (msgid/msgstr pairs, single or continued lines)."""

    def __init__(self, path: Path) -> None:
        super().__init__()
        self._catalog = read_po(path)

    def gettext(self, message: str) -> str:
        return self._catalog.get(message) or message

    def ngettext(self, singular: str, plural: str, n: int) -> str:
        return self.gettext(singular if n == 1 else plural)


def read_po(path: Path) -> dict[str, str]:
    out: dict[str, str] = {}
    key: str | None = None
    cur: list[str] = []
    field = ""
    for raw in [*path.read_text(encoding="utf-8").splitlines(), ""]:
        line = raw.strip()
        if line.startswith(("msgid ", "msgstr ")) or not line or line.startswith("#"):
            if field == "msgid":
                key = "".join(cur)
            elif field == "msgstr" and key:
                out[key] = "".join(cur)
            field, cur = "", []
            if line.startswith("msgid "):
                field, cur = "msgid", [ast.literal_eval(line[6:])]
            elif line.startswith("msgstr "):
                field, cur = "msgstr", [ast.literal_eval(line[7:])]
        elif line.startswith('"') and field:
            cur.append(ast.literal_eval(line))
    return out


@cache
def translations(lang: str) -> gettext.NullTranslations:
    po = _LOCALE / lang / "LC_MESSAGES" / "portal.po"
    return PoTranslations(po) if po.is_file() else gettext.NullTranslations()


def pick(cookie: str | None, query: str | None = None) -> str:
    for lang in (query, cookie):
        if lang in LANGS:
            return lang
    return DEFAULT
