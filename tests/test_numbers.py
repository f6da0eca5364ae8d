"""The shared NaN-safe checks: NaN, ±inf, None, bools and strings are never accepted."""

import math
from decimal import Decimal

import pytest

from workbench.errors import WorkbenchError
from workbench.numbers import (
    BadNumber,
    is_finite,
    is_non_negative,
    is_positive,
    require_non_negative,
    require_positive,
)

BAD = [math.nan, math.inf, -math.inf, None, True, "1", Decimal("NaN"), Decimal("sNaN"), Decimal("Infinity")]


@pytest.mark.parametrize("x", BAD)
def test_non_numbers_and_non_finite_are_refused(x):
    assert not is_positive(x) and not is_non_negative(x) and not is_finite(x)
    with pytest.raises(BadNumber):
        require_positive(x, "f")


def test_signs():
    assert is_positive(1) and is_positive(Decimal("0.01")) and not is_positive(0) and not is_positive(-1e-300)
    assert is_non_negative(0.0) and not is_non_negative(-1)
    assert require_non_negative(0, "x") == 0.0


def test_error_names_field_and_place():
    with pytest.raises(WorkbenchError) as e:
        require_positive(math.nan, "defaults.max_order_qty", where="risk.yaml")
    assert e.value.field == "defaults.max_order_qty"
    assert str(e.value) == "risk.yaml: defaults.max_order_qty must be a finite number > 0, got nan"
