"""The gateway's phone validator (``policy.phones``) answers exactly what ``phonenumbers.is_valid_number`` answers,
for the numbers the phone detector asks about: international (``parse("+" + digits, None)``) and national
(``PhoneNumber(country_code=cc, national_number=int(nsn))``). Checked on every country calling code: the example
numbers ``phonenumbers`` ships per region and type, variations of them (a digit changed, one more or fewer, a
national prefix or a zero in front), seeded random digits, and hypothesis's choice of digits."""

from __future__ import annotations

import random

import phonenumbers
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llmops_cli.gateway.policy import phones

CODES = sorted(phonenumbers.COUNTRY_CODE_TO_REGION_CODE)


def _international(digits: str) -> bool:
    try:
        return bool(phonenumbers.is_valid_number(phonenumbers.parse("+" + digits, None)))
    except phonenumbers.NumberParseException:
        return False


def _national(cc: int, nsn: str) -> bool:
    return bool(phonenumbers.is_valid_number(phonenumbers.PhoneNumber(country_code=cc, national_number=int(nsn))))


def _check(cc: int, nsn: str) -> None:
    """Both forms of one number: ``cc`` and national digits ``nsn``."""
    assert phones.valid_international(f"{cc}{nsn}") == _international(f"{cc}{nsn}"), (cc, nsn)
    if nsn:
        assert phones.valid_number(cc, nsn) == _national(cc, nsn), (cc, nsn)


def _examples(cc: int) -> list[str]:
    """The national significant numbers of the examples ``phonenumbers`` ships for ``cc`` (every region, type)."""
    out: list[str] = []
    for region in phonenumbers.COUNTRY_CODE_TO_REGION_CODE[cc]:
        if region == phonenumbers.REGION_CODE_FOR_NON_GEO_ENTITY:
            found = [phonenumbers.example_number_for_non_geo_entity(cc)]
        else:
            found = [phonenumbers.example_number_for_type(region, t) for t in range(12)]
            found.append(phonenumbers.invalid_example_number(region))
        out.extend(phonenumbers.national_significant_number(n) for n in found if n is not None)
    return sorted(set(out))


def _prefixes(cc: int) -> list[str]:
    """National prefixes (trunk, carrier) written before a national number in the regions of ``cc``."""
    out = {"0", "1", "8", "00"}
    for region in phonenumbers.COUNTRY_CODE_TO_REGION_CODE[cc]:
        md = phonenumbers.PhoneMetadata.metadata_for_region_or_calling_code(cc, region)
        if md is not None and md.national_prefix:
            out.add(md.national_prefix)
    return sorted(out)


@pytest.mark.parametrize("cc", CODES)
def test_examples_and_their_variations(cc: int) -> None:
    rng = random.Random(cc)
    for nsn in _examples(cc):
        _check(cc, nsn)
        for _ in range(6):  # a digit changed
            i = rng.randrange(len(nsn))
            _check(cc, nsn[:i] + rng.choice("0123456789") + nsn[i + 1 :])
        _check(cc, nsn[:-1])
        _check(cc, nsn[:-2])
        _check(cc, nsn + rng.choice("0123456789"))
        _check(cc, nsn + rng.choice("0123456789") + rng.choice("0123456789"))
        _check(cc, nsn[1:])
        _check(cc, "0" + nsn)
        for prefix in _prefixes(cc):  # parse strips a national prefix after `+cc` where it is one
            _check(cc, prefix + nsn)
            _check(cc, prefix + nsn[:-1])


@pytest.mark.parametrize("cc", CODES)
def test_random_digits(cc: int) -> None:
    rng = random.Random(1000 + cc)
    for n in range(1, 16):
        for _ in range(8):
            _check(cc, "".join(rng.choice("0123456789") for _ in range(n)))


def test_random_international_strings() -> None:
    rng = random.Random(7)
    for _ in range(5000):
        digits = "".join(rng.choice("0123456789") for _ in range(rng.randint(3, 17)))
        assert phones.valid_international(digits) == _international(digits), digits


@settings(max_examples=400, deadline=None)
@given(st.text("0123456789", min_size=3, max_size=17))
def test_international_property(digits: str) -> None:
    assert phones.valid_international(digits) == _international(digits), digits


@settings(max_examples=400, deadline=None)
@given(st.sampled_from(CODES), st.text("0123456789", min_size=1, max_size=15))
def test_national_property(cc: int, nsn: str) -> None:
    assert phones.valid_number(cc, nsn) == _national(cc, nsn), (cc, nsn)
    assert phones.valid_international(f"{cc}{nsn}") == _international(f"{cc}{nsn}"), (cc, nsn)


def test_unknown_country_code() -> None:
    assert not phones.valid_number(999, "12345678")
    assert not phones.valid_international("99912345678")
    assert not phones.valid_international("0123456789")
