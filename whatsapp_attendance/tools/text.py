"""Reading what a customer typed to answer a menu."""

import re
import unicodedata

_SPACES = re.compile(r"\s+")
_EDGE_PUNCTUATION = " .,;:!?¡¿()[]{}\"'*_~-"
_NUMBER = re.compile(r"^(?:n[ºo°.]?\s*)?(\d{1,3})\s*[.)º°-]?$")


def normalize_answer(text):
    """``text`` as compared with an option's name: case-, accent- and spacing-insensitive, without the
    punctuation around it ("  Atendênte! " -> "atendente")."""
    decomposed = unicodedata.normalize('NFKD', text or '')
    plain = ''.join(ch for ch in decomposed if not unicodedata.combining(ch))
    return _SPACES.sub(' ', plain.casefold()).strip(_EDGE_PUNCTUATION).strip()


def answer_number(text):
    """The option number typed ("2", "2.", "2)", "nº 2"), or ``None``."""
    normalized = normalize_answer(text)
    match = _NUMBER.match(normalized) or _NUMBER.match((text or '').strip())
    return int(match.group(1)) if match else None
