"""Phone numbers as WhatsApp sees them: E.164 normalisation with ``phonenumbers``."""

import phonenumbers


def to_e164(number, default_region=None):
    """Return ``number`` in E.164 (``+5511987654321``) or ``False``.

    Accepts any human format ("+55 11 98765-4321", "(11) 98765-4321" with
    ``default_region='BR'``) and WhatsApp ids (digits with the country code,
    "5511987654321"). A number that ``phonenumbers`` cannot read gives False.
    """
    if not number:
        return False
    raw = str(number).strip()
    digits = "".join(ch for ch in raw if ch.isdigit())
    if not digits:
        return False
    candidates = [raw]
    if not raw.startswith("+"):
        # A WhatsApp id is digits with the country code; a human number may be national.
        candidates = [raw, "+" + digits] if default_region else ["+" + digits]
    for candidate in candidates:
        try:
            parsed = phonenumbers.parse(candidate, None if candidate.startswith("+") else default_region)
        except phonenumbers.NumberParseException:
            continue
        if phonenumbers.is_possible_number(parsed):
            return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
    return False


def whatsapp_variants(e164):
    """The E.164 numbers one WhatsApp id may stand for.

    Brazil added a ninth digit to mobile numbers, but many WhatsApp ids still
    come without it ("+55 11 8765-4321" for "+55 11 98765-4321"), so both
    forms name the same customer.
    """
    if not e164:
        return []
    variants = [e164]
    if e164.startswith("+55"):
        national = e164[3:]
        if len(national) == 10 and national[2] in "6789":   # DDD + 8 digits: add the 9
            variants.append("+55" + national[:2] + "9" + national[2:])
        elif len(national) == 11 and national[2] == "9" and national[3] in "6789":
            variants.append("+55" + national[:2] + national[3:])
    return variants


def format_international(e164):
    try:
        parsed = phonenumbers.parse(e164, None)
    except phonenumbers.NumberParseException:
        return e164
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.INTERNATIONAL)


def region_of(e164):
    """The country (ISO code, "BR") a number in E.164 belongs to, or ``None``."""
    try:
        parsed = phonenumbers.parse(e164, None)
    except phonenumbers.NumberParseException:
        return None
    return phonenumbers.region_code_for_number(parsed)
