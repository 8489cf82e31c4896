"""Check digits of the numbers personal-data detection validates: payment cards (Luhn, ISO/IEC 7812) and IBANs
(ISO 7064 mod 97-10, with the ISO 13616 registry's length per country)."""

from __future__ import annotations

import string

# The Luhn sum of a doubled digit, as a digit (2 × 7 = 14 → 1 + 4 = 5).
_LUHN_DOUBLE = str.maketrans("0123456789", "0246813579")


def luhn_ok(digits: str) -> bool:
    if not digits.isascii():  # any Unicode decimal digit, as `\d` matches them
        digits = "".join([str(int(ch)) for ch in digits])
    if not digits.isdigit():
        raise ValueError(f"not digits: {digits!r}")
    # The code points of ASCII digits, summed: 48 more than the digit each.
    total = sum(digits[-1::-2].encode()) + sum(digits[-2::-2].translate(_LUHN_DOUBLE).encode()) - 48 * len(digits)
    return total % 10 == 0


# Lengths per country (ISO 13616 registry); unknown countries fall back to 15..34.
IBAN_LENGTHS = {
    "AD": 24,
    "AE": 23,
    "AL": 28,
    "AT": 20,
    "AZ": 28,
    "BA": 20,
    "BE": 16,
    "BG": 22,
    "BH": 22,
    "BR": 29,
    "CH": 21,
    "CR": 22,
    "CY": 28,
    "CZ": 24,
    "DE": 22,
    "DK": 18,
    "DO": 28,
    "EE": 20,
    "ES": 24,
    "FI": 18,
    "FO": 18,
    "FR": 27,
    "GB": 22,
    "GE": 22,
    "GI": 23,
    "GL": 18,
    "GR": 27,
    "GT": 28,
    "HR": 21,
    "HU": 28,
    "IE": 22,
    "IL": 23,
    "IS": 26,
    "IT": 27,
    "JO": 30,
    "KW": 30,
    "KZ": 20,
    "LB": 28,
    "LI": 21,
    "LT": 20,
    "LU": 20,
    "LV": 21,
    "MC": 27,
    "MD": 24,
    "ME": 22,
    "MK": 19,
    "MR": 27,
    "MT": 31,
    "MU": 30,
    "NL": 18,
    "NO": 15,
    "PK": 24,
    "PL": 28,
    "PS": 29,
    "PT": 25,
    "QA": 29,
    "RO": 24,
    "RS": 22,
    "SA": 24,
    "SE": 24,
    "SI": 19,
    "SK": 24,
    "SM": 27,
    "TN": 24,
    "TR": 26,
    "UA": 29,
    "VG": 24,
    "XK": 20,
}


# ISO 7064 mod 97-10 reads each letter as two digits (A = 10 … Z = 35).
_IBAN_DIGITS = str.maketrans({c: str(int(c, 36)) for c in string.ascii_uppercase})


def iban_ok(text: str) -> bool:
    s = "".join(text.split()).upper()  # str.split drops what `\s` matches
    want = IBAN_LENGTHS.get(s[:2])
    if (want is not None and len(s) != want) or not 15 <= len(s) <= 34:
        return False
    moved = s[4:] + s[:4]
    if moved.isascii():
        num = moved.translate(_IBAN_DIGITS)
        if not num.isdigit():
            return False
    else:  # Unicode digits, as `\d` matches them
        try:
            num = "".join(str(int(c, 36)) for c in moved)
        except ValueError:
            return False
    return int(num) % 97 == 1
