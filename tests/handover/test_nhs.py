"""NHS number: modulus-11 check digit, 10 digits, shown 3-3-4."""

import pytest

from core import nhs


def test_known_valid_number_and_display():
    assert nhs.normalise("943 476 5919") == "9434765919"
    assert nhs.normalise("943-476-5919") == "9434765919"
    assert nhs.display("9434765919") == "943 476 5919"


def test_check_digit_rules():
    assert nhs.check_digit("943476591") == 9
    # a remainder of 0 gives 11, which means a check digit of 0
    assert any(nhs.check_digit(n[:9]) == 0 for n in nhs.test_numbers(40))
    # some nine-digit stems have no valid number at all (check digit 10)
    assert nhs.check_digit("999000014") is None
    with pytest.raises(nhs.InvalidNhsNumber, match="check digit"):
        nhs.normalise("9990000140")


@pytest.mark.parametrize("raw", ["9434765918", "943476591", "94347659190", "", "943476591O", "９４３４７６５９１９"])
def test_invalid_numbers_refused(raw):
    with pytest.raises(nhs.InvalidNhsNumber):
        nhs.normalise(raw)


def test_test_numbers_are_valid_and_in_the_999_range():
    numbers = list(nhs.test_numbers(25))
    assert len(set(numbers)) == 25
    assert all(n.startswith("999") and nhs.is_valid(n) for n in numbers)
