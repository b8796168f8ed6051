"""NHS number checks (pure functions): 10 digits, digit 10 a modulus-11 check digit, shown 3-3-4."""

from __future__ import annotations

import re

_SEPARATORS = re.compile(r"[\s-]")


class InvalidNhsNumber(ValueError):
    pass


def check_digit(first_nine: str) -> int | None:
    """Weights 10..2 on digits 1-9; 11 - (sum mod 11); 11 means 0; 10 means no valid number has these digits."""
    total = sum(int(d) * w for d, w in zip(first_nine, range(10, 1, -1), strict=True))
    digit = 11 - (total % 11)
    if digit == 11:
        return 0
    return None if digit == 10 else digit


def normalise(raw: str) -> str:
    """Return the 10 digits of a valid NHS number, or raise InvalidNhsNumber with a message a person understands."""
    digits = _SEPARATORS.sub("", raw or "")
    if not digits.isascii() or not digits.isdigit() or len(digits) != 10:
        raise InvalidNhsNumber("An NHS number is 10 digits, for example 943 476 5919.")
    expected = check_digit(digits[:9])
    if expected is None or expected != int(digits[9]):
        raise InvalidNhsNumber("This is not a valid NHS number: the check digit does not match. Check it against "
                               "the wristband or the patient record.")
    return digits


def is_valid(raw: str) -> bool:
    try:
        normalise(raw)
    except InvalidNhsNumber:
        return False
    return True


def display(digits: str | None) -> str:
    return f"{digits[:3]} {digits[3:6]} {digits[6:]}" if digits else ""


def test_numbers(count: int, start: int = 0):
    """Valid numbers in the 999 range, which is reserved for testing (fixtures and demo data)."""
    n = start
    while count:
        first_nine = f"999{n:06d}"
        n += 1
        digit = check_digit(first_nine)
        if digit is not None:
            count -= 1
            yield first_nine + str(digit)


test_numbers.__test__ = False  # not a pytest test
