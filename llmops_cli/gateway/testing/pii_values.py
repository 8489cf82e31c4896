"""Random personal data, look-alikes and Unicode disguises, for the detector tests and the corpus benchmark.

Every value is valid for its type (Luhn, ISO 7064 mod 97, libphonenumber's metadata, SSN issue rules), so a
detector that misses one has missed real personal data; every look-alike is a string that shares a shape with
a type but is not one (a date, a log timestamp, a ZIP+4 code, an ISBN, a never-issued SSN), so a detector that
redacts one has damaged ordinary text. Functions take a :class:`random.Random` so a corpus is reproducible
from its seed (and hypothesis can draw the seed).
"""

from __future__ import annotations

import ipaddress
import random
import string
from collections.abc import Callable

# ------------------------------------------------------------------------------------------ personal data
_ALNUM = string.ascii_letters + string.digits
_UPPER_DIGITS = string.ascii_uppercase + string.digits
_B64 = string.ascii_letters + string.digits + "+/"


def _pick(rng: random.Random, alphabet: str, n: int) -> str:
    return "".join(rng.choice(alphabet) for _ in range(n))


def _luhn_digit(body: str) -> str:
    total = 0
    for i, ch in enumerate(reversed(body)):
        d = int(ch)
        if i % 2 == 0:  # doubled: the check digit goes to the right of these
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return str((10 - total % 10) % 10)


def card(rng: random.Random) -> str:
    """A Luhn-valid Visa, Mastercard, Amex or Discover number, unseparated or in its usual groups."""
    prefix, length = rng.choice([("4", 16), ("51", 16), ("55", 16), ("2221", 16), ("37", 15), ("34", 15), ("6011", 16)])
    body = prefix + _pick(rng, string.digits, length - len(prefix) - 1)
    digits = body + _luhn_digit(body)
    sep = rng.choice(["", " ", "-"])
    if not sep:
        return digits
    if length == 15:
        return sep.join([digits[:4], digits[4:10], digits[10:]])
    return sep.join(digits[i : i + 4] for i in range(0, 16, 4))


_IBAN_LENGTHS = {"DE": 22, "GB": 22, "FR": 27, "NL": 18, "ES": 24, "IT": 27, "CH": 21, "BE": 16, "AT": 20, "PL": 28}


def iban(rng: random.Random) -> str:
    """A valid IBAN (ISO 13616 length, ISO 7064 mod 97-10 check digits), plain or in groups of four."""
    country = rng.choice(sorted(_IBAN_LENGTHS))
    n = _IBAN_LENGTHS[country] - 4
    if country in ("GB", "NL"):
        bban = _pick(rng, string.ascii_uppercase, 4) + _pick(rng, string.digits, n - 4)
    else:
        bban = _pick(rng, string.digits, n)
    moved = bban + country + "00"
    check = 98 - int("".join(str(int(c, 36)) for c in moved)) % 97
    value = f"{country}{check:02d}{bban}"
    if rng.random() < 0.5:
        return " ".join(value[i : i + 4] for i in range(0, len(value), 4))
    return value


def ssn(rng: random.Random) -> str:
    """A US SSN from the issued ranges: area 001-899 but 666, group 01-99, serial 0001-9999."""
    area = rng.randint(1, 898)
    area += area >= 666  # 666 was never issued
    return f"{area:03d}-{rng.randint(1, 99):02d}-{rng.randint(1, 9999):04d}"


def email(rng: random.Random) -> str:
    first = rng.choice(["jane", "john", "maria", "li", "ahmed", "olga", "sam", "p", "dev-ops", "x"])
    last = rng.choice(["", ".doe", "_smith", ".o.neil", "+tag", "42", "-team"])
    domain = rng.choice(["example.com", "mail.example.co.uk", "corp.example.org", "ex-ample.io", "uni.example.edu"])
    return f"{first}{last}@{domain}"


def ip_address(rng: random.Random) -> str:
    """IPv4, IPv6 (compressed or exploded) or IPv4-mapped IPv6."""
    kind = rng.randrange(4)
    if kind == 0:
        return ".".join(str(rng.randint(1, 254)) for _ in range(4))
    if kind == 3:
        v4 = ".".join(str(rng.randint(1, 254)) for _ in range(4))
        return f"::ffff:{v4}"
    groups = [rng.choice([0, 0, rng.randint(1, 0xFFFF)]) for _ in range(8)]
    groups[0] = rng.choice([0x2001, 0xFE80, 0x2A00, 0xFD12])
    addr = ipaddress.IPv6Address(":".join(f"{g:x}" for g in groups))
    return addr.compressed if kind == 1 else addr.exploded


# Regions whose example numbers seed the phone generator, and how each region writes them.
PHONE_REGIONS = ("US", "GB", "DE", "FR", "JP", "AU", "IN", "BR", "IL", "CA")


def phone(rng: random.Random) -> str:
    """A number that libphonenumber calls valid, written the international way (``+33 1 23 45 67 89``), the
    national way (``(415) 555-0132``, ``030 1234567``) or the E.164 way (``+14155550132``)."""
    import phonenumbers

    region = rng.choice(PHONE_REGIONS)
    ptype = rng.choice([phonenumbers.PhoneNumberType.FIXED_LINE, phonenumbers.PhoneNumberType.MOBILE])
    example = phonenumbers.example_number_for_type(region, ptype) or phonenumbers.example_number(region)
    assert example is not None
    nsn = str(example.national_number)
    for _ in range(50):  # vary the subscriber digits until libphonenumber agrees it is valid
        keep = max(3, len(nsn) - 4)
        candidate = nsn[:keep] + _pick(rng, string.digits, len(nsn) - keep)
        num = phonenumbers.PhoneNumber(country_code=example.country_code, national_number=int(candidate))
        if phonenumbers.is_valid_number(num):
            break
    else:
        num = example
    fmt = rng.choice(
        [phonenumbers.PhoneNumberFormat.INTERNATIONAL, phonenumbers.PhoneNumberFormat.NATIONAL]
        + ([phonenumbers.PhoneNumberFormat.E164] if rng.random() < 0.2 else [])
    )
    return phonenumbers.format_number(num, fmt)


def secret(rng: random.Random) -> str:
    """An API key or token in one of the formats the gateway knows (some inside an identifier)."""
    kind = rng.randrange(9)
    if kind == 0:
        value = rng.choice(["AKIA", "ASIA"]) + _pick(rng, _UPPER_DIGITS, 16)
    elif kind == 1:
        value = "sk-proj-" + _pick(rng, _ALNUM + "_-", 48)
    elif kind == 2:
        value = rng.choice(["ghp_", "gho_", "ghs_"]) + _pick(rng, _ALNUM, 36)
    elif kind == 3:
        value = rng.choice(["sk_live_", "rk_live_", "sk_test_", "rk_test_"]) + _pick(rng, _ALNUM, rng.randint(24, 60))
    elif kind == 4:
        value = "xoxb-" + "-".join(_pick(rng, string.digits, 12) for _ in range(2)) + "-" + _pick(rng, _ALNUM, 24)
    elif kind == 5:
        value = "AIza" + _pick(rng, _ALNUM + "_-", 35)
    elif kind == 6:
        value = "hf_" + _pick(rng, _ALNUM, 34)
    elif kind == 7:
        value = "glpat-" + _pick(rng, _ALNUM + "_-", 20)
    else:
        value = "sk-ant-api03-" + _pick(rng, _ALNUM + "_-", 80)
    return value


def aws_secret_key(rng: random.Random) -> str:
    """A 40-character AWS secret access key body (mixed case, digits, ``/`` and ``+``)."""
    while True:
        v = _pick(rng, _B64, 40)
        if any(c.isdigit() for c in v) and any(c.isupper() for c in v) and any(c.islower() for c in v):
            return v


GENERATORS: dict[str, Callable[[random.Random], str]] = {
    "email": email,
    "phone": phone,
    "credit_card": card,
    "iban": iban,
    "us_ssn": ssn,
    "ip_address": ip_address,
    "secret": secret,
}

# ------------------------------------------------------------------------------------------- look-alikes


def _isbn13(rng: random.Random) -> str:
    body = "978" + _pick(rng, string.digits, 9)
    total = sum(int(c) * (1 if i % 2 == 0 else 3) for i, c in enumerate(body))
    digits = body + str((10 - total % 10) % 10)
    return f"{digits[:3]}-{digits[3]}-{digits[4:7]}-{digits[7:12]}-{digits[12]}"


def _isbn10(rng: random.Random) -> str:
    body = rng.choice("01") + _pick(rng, string.digits, 8)
    check = sum((10 - i) * int(c) for i, c in enumerate(body)) % 11
    c = (11 - check) % 11
    digits = body + ("X" if c == 10 else str(c))
    return f"{digits[0]}-{digits[1:4]}-{digits[4:9]}-{digits[9]}"


def lookalike(rng: random.Random) -> tuple[str, str]:
    """``(shape, text)``: a string shaped like personal data that is none."""
    y, mo, d = rng.randint(1990, 2030), rng.randint(1, 12), rng.randint(1, 28)
    h, mi, s = rng.randint(0, 23), rng.randint(0, 59), rng.randint(0, 59)
    shapes: list[tuple[str, Callable[[], str]]] = [
        ("date", lambda: rng.choice([f"{y}-{mo:02d}-{d:02d}", f"{d:02d}.{mo:02d}.{y}", f"{mo:02d}/{d:02d}/{y}"])),
        ("log timestamp", lambda: f"{y} {mo:02d} {d:02d} {h:02d} {mi:02d} {s:02d}"),
        ("date and time", lambda: f"{y}-{mo:02d}-{d:02d} {h:02d}:{mi:02d}:{s:02d}"),
        ("zip+4", lambda: f"{rng.randint(10000, 99999)}-{rng.randint(1000, 9999)}"),
        ("coordinates", lambda: f"{rng.uniform(-80, 80):.6f}, {rng.uniform(-179, 179):.6f}"),
        ("epoch", lambda: str(rng.randint(1_400_000_000, 1_900_000_000)) + rng.choice(["", "123"])),
        ("isbn", lambda: rng.choice([_isbn13, _isbn10])(rng)),
        # Six to nine digits: a bare run of ten digits (eleven with a leading 1) that is a valid North American
        # number is redacted as a phone by design (pii.py), and one of 12 to 19 digits that passes Luhn with an
        # issuer's prefix as a card: ids of those lengths are genuinely ambiguous strings, not look-alikes.
        ("numeric id", lambda: str(rng.randint(10 ** (n := rng.choice((6, 7, 8, 9))) // 10, 10**n - 1))),
        (
            "never-issued ssn",
            lambda: (
                f"{rng.choice([0, 666, rng.randint(900, 999)]):03d}-{rng.randint(1, 99):02d}-{rng.randint(1, 9999):04d}"
            ),
        ),
        ("version", lambda: f"{rng.randint(1, 30)}.{rng.randint(0, 20)}.{rng.randint(0, 99)}"),
        ("time", lambda: f"{h:02d}:{mi:02d}:{s:02d}"),
        ("amount", lambda: f"{rng.randint(1, 999)},{rng.randint(0, 999):03d}.{rng.randint(0, 99):02d}"),
        ("hex digest", lambda: _pick(rng, "0123456789abcdef", 40)),
        ("uuid", lambda: "-".join(_pick(rng, "0123456789abcdef", n) for n in (8, 4, 4, 4, 12))),
        ("card-like, Luhn fails", lambda: _luhn_fail(rng)),
    ]
    name, make = rng.choice(shapes)
    return name, make()


def _luhn_fail(rng: random.Random) -> str:
    body = "4" + _pick(rng, string.digits, 14)
    good = int(_luhn_digit(body))
    return " ".join((body + str((good + rng.randint(1, 9)) % 10))[i : i + 4] for i in range(0, 16, 4))


# ------------------------------------------------------------------------------------------ disguises
# What a client can write instead of a character, so that the text reads the same to a person (and, after NFKC,
# to the model's tokenizer) but differs byte for byte.
INVISIBLE = ("\u200b", "\u200c", "\u200d", "\u2060", "\u00ad", "\ufeff", "\u180e", "\u034f")
SPACES = ("\u00a0", "\u2009", "\u202f", "\u2007", "\u3000", "\u2002", "\u205f", "\u1680")
DASHES = ("\u2010", "\u2011", "\u2012", "\u2013", "\u2212", "\ufe63", "\uff0d", "\u2014")
ATS = ("\uff20", "\ufe6b")
DOTS = ("\uff0e", "\u2024", "\ufe52")


def fullwidth(ch: str) -> str:
    """The full-width form of a printable ASCII character (NFKC folds it back)."""
    return chr(ord(ch) + 0xFEE0) if "!" <= ch <= "~" else ch


def disguise(rng: random.Random, value: str, rate: float = 0.35) -> str:
    """``value`` with some separators, letters and digits swapped for look-alikes and invisible characters
    inserted between characters (never before the first or after the last)."""
    out: list[str] = []
    for i, ch in enumerate(value):
        if i and rng.random() < rate / 2:
            out.append(rng.choice(INVISIBLE))
        if rng.random() < rate:
            if ch == " ":
                ch = rng.choice(SPACES)
            elif ch == "-":
                ch = rng.choice(DASHES)
            elif ch == "@":
                ch = rng.choice(ATS)
            elif ch == "." and rng.random() < 0.5:
                ch = rng.choice(DOTS)
            elif ch.isascii() and ch.isalnum():
                ch = fullwidth(ch)
        out.append(ch)
    return "".join(out)
