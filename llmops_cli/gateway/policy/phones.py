"""Phone number validity as libphonenumber decides it, at a fraction of its cost per number.

``phonenumbers.is_valid_number`` reads the metadata of a number's country through several lookups and pattern
matches per number type (a cache lookup for each compiled pattern, a call per type): most of the time the
gateway spends on a phone candidate. This module answers the same question from the same metadata (the
``phonenumbers`` package stays the source of truth), with the patterns of each country compiled once, lazily:
per length of national number, one pattern for all the number types of that length. It reproduces

- :func:`valid_international`: ``is_valid_number(parse("+" + digits, None))`` (``False`` where ``parse``
  raises): the country code read as ``parse`` reads it (the shortest prefix that is a known code), the national
  prefix stripped where ``parse`` strips it (that rare step is left to ``phonenumbers`` itself), the national
  significant number kept with its leading zeros;
- :func:`valid_number`: ``is_valid_number(PhoneNumber(country_code=cc, national_number=int(nsn)))``;

including the choice among the regions that share a country code (``leading_digits``, else the first region
where the number has a type). ``tests/gateway/test_pii_phones.py`` checks the equivalence on every country
code, on the example numbers ``phonenumbers`` ships for each region and type, on variations of them and on
random digits. Importing this module does not import ``phonenumbers`` (about 30 ms): the first number does.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

_Match = Callable[[str], Any]

# The number types ``_number_type_helper`` tries, in its order (``mobile`` last, and only where its pattern is
# not the fixed-line one).
_TYPES = (
    "premium_rate",
    "toll_free",
    "shared_cost",
    "voip",
    "personal_number",
    "pager",
    "uan",
    "voicemail",
    "fixed_line",
)


class _Region:
    """One region's metadata, compiled: ``valid(nsn)`` is ``_number_type_helper(nsn, metadata) != UNKNOWN``."""

    __slots__ = ("_by_len", "_descs", "_general", "_general_lengths", "country_code", "leading")

    def __init__(self, md: Any) -> None:
        self.country_code: int = md.country_code
        self.leading: _Match | None = re.compile(md.leading_digits).match if md.leading_digits is not None else None
        g = md.general_desc
        if g is None or not g.national_number_pattern:
            self._general: _Match | None = None
            self._general_lengths: frozenset[int] | None = frozenset()
        else:
            self._general = re.compile(g.national_number_pattern).fullmatch
            self._general_lengths = frozenset(g.possible_length) if len(g.possible_length) > 0 else None
        names = _TYPES if md.same_mobile_and_fixed_line_pattern else (*_TYPES, "mobile")
        self._descs = [
            (frozenset(d.possible_length) if len(d.possible_length) > 0 else None, d.national_number_pattern)
            for d in (getattr(md, name) for name in names)
            if d is not None and d.national_number_pattern
        ]
        # length → the fullmatch of every type that admits it, or None (no number of this length is valid)
        self._by_len: dict[int, _Match | None] = {}

    def _build(self, n: int) -> _Match | None:
        types: _Match | None = None
        if self._general is not None and (self._general_lengths is None or n in self._general_lengths):
            pats = [p for lengths, p in self._descs if lengths is None or n in lengths]
            if pats:
                types = re.compile("|".join(f"(?:{p})" for p in pats)).fullmatch
        self._by_len[n] = types
        return types

    def valid(self, nsn: str) -> bool:
        n = len(nsn)
        types = self._by_len[n] if n in self._by_len else self._build(n)
        return types is not None and self._general(nsn) is not None and types(nsn) is not None  # type: ignore[misc]


class _Code:
    """The regions of one country calling code, in ``phonenumbers``' order, and how ``parse`` strips a
    national prefix from a number with this code (its main region's ``national_prefix_for_parsing``)."""

    __slots__ = ("main", "prefix", "regions", "single")

    def __init__(self, pn: Any, cc: int, region_codes: list[str]) -> None:
        meta = pn.PhoneMetadata
        self.single = len(region_codes) == 1
        self.regions: list[tuple[_Region, bool]] = []  # (region, whether its country code is cc)
        for rc in region_codes:
            md = (
                meta.metadata_for_region_or_calling_code(cc, rc.upper())
                if self.single
                else meta.metadata_for_region(rc.upper(), None)
            )
            if md is None:  # pragma: no cover - every listed region has metadata
                continue
            region = _Region(md)
            self.regions.append((region, rc == pn.REGION_CODE_FOR_NON_GEO_ENTITY or region.country_code == cc))
        self.main: Any = meta.metadata_for_region_or_calling_code(cc, region_codes[0])
        npp = self.main.national_prefix_for_parsing if self.main is not None else None
        self.prefix: _Match | None = re.compile(npp).match if npp else None

    def valid(self, nsn: str) -> bool:
        """``is_valid_number`` of a number with this code and national significant number ``nsn``."""
        if self.single:
            if not self.regions:  # pragma: no cover
                return False
            region, same_code = self.regions[0]
            return same_code and region.valid(nsn)
        for region, same_code in self.regions:  # region_code_for_number's choice, then its validity
            if region.leading is not None:
                if region.leading(nsn):
                    return same_code and region.valid(nsn)
            elif region.valid(nsn):
                return same_code
        return False


_pn: Any = None
_codes: dict[int, _Code | None] = {}


def _load() -> Any:
    global _pn
    if _pn is None:
        import phonenumbers  # ~30 ms: only once a number needs it

        _pn = phonenumbers
    return _pn


def _code(cc: int) -> _Code | None:
    if cc in _codes:
        return _codes[cc]
    pn = _load()
    regions = pn.COUNTRY_CODE_TO_REGION_CODE.get(cc)
    code = _codes[cc] = _Code(pn, cc, list(regions)) if regions else None
    return code


def valid_number(cc: int, nsn: str) -> bool:
    """``phonenumbers.is_valid_number(PhoneNumber(country_code=cc, national_number=int(nsn)))`` for ``nsn`` of
    ASCII digits (leading zeros are dropped, as ``int`` drops them); ``False`` for no digits."""
    if not nsn:
        return False
    code = _code(cc)
    return code is not None and code.valid(str(int(nsn)))


def valid_international(digits: str) -> bool:
    """``phonenumbers.is_valid_number(phonenumbers.parse("+" + digits, None))`` for ``digits`` of ASCII digits,
    ``False`` where ``parse`` raises."""
    if not (3 <= len(digits) <= 20 and digits.isascii() and digits.isdigit()):
        return _exact_international(digits)  # pragma: no cover - the detectors ask about 5 to 15 digits
    if digits[0] == "0":  # no country code starts with 0: INVALID_COUNTRY_CODE
        return False
    pn = _load()
    known = pn.COUNTRY_CODE_TO_REGION_CODE
    for i in (1, 2, 3):
        cc = int(digits[:i])
        if cc in known:
            break
    else:
        return False  # INVALID_COUNTRY_CODE
    code = _code(cc)
    if code is None:  # pragma: no cover - a known code has regions
        return False
    nn = digits[i:]
    if len(nn) < 2:  # TOO_SHORT_NSN
        return False
    if code.prefix is not None and code.prefix(nn):  # parse may strip a national prefix: its own code decides
        pnu = pn.phonenumberutil
        _, stripped, _ = pnu._maybe_strip_national_prefix_carrier_code(nn, code.main)
        vr = pnu.ValidationResult
        if pnu._test_number_length(stripped, code.main) not in (
            vr.TOO_SHORT,
            vr.IS_POSSIBLE_LOCAL_ONLY,
            vr.INVALID_LENGTH,
        ):
            nn = stripped
    if not 2 <= len(nn) <= 17:  # TOO_SHORT_NSN, TOO_LONG
        return False
    return code.valid(nn)


def _exact_international(digits: str) -> bool:
    pn = _load()
    try:
        return bool(pn.is_valid_number(pn.parse("+" + digits, None)))
    except pn.NumberParseException:
        return False
