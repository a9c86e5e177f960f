"""What AI Credits cost: a price per credit turns credit totals into an estimate of money.

The price is a setting (`AI_CONSOLE_CREDIT_PRICE`, default 1.00, in `AI_CONSOLE_CURRENCY`,
default USD) that the sidebar's "Price per AI Credit" can change for a view (bound to the URL as
`price`). Every figure made from it says that it is an estimate at that price, because what an
organization pays depends on its contract: built-in credits come with the license, top-up
credits are billed.
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass

ENV_PRICE = "AI_CONSOLE_CREDIT_PRICE"
ENV_CURRENCY = "AI_CONSOLE_CURRENCY"
DEFAULT_PRICE = 1.0
DEFAULT_CURRENCY = "USD"
MAX_PRICE = 1_000_000.0
SYMBOLS = {"USD": "$", "EUR": "€", "GBP": "£", "JPY": "¥", "INR": "₹"}
_CODE = re.compile(r"[A-Z]{3}")


class BadSetting(ValueError):
    """A price or currency setting that cannot be used, said for a person."""


@dataclass(frozen=True)
class Price:
    per_credit: float = DEFAULT_PRICE
    currency: str = DEFAULT_CURRENCY

    @property
    def symbol(self) -> str | None:
        return SYMBOLS.get(self.currency)

    def amount(self, credits: float) -> float:
        return credits * self.per_credit

    def money(self, value: float, digits: int | None = None) -> str:
        """`$1,234` (with cents below 100), `1,234 CZK` for a currency without a symbol."""
        if digits is None:
            digits = 2 if abs(value) < 100 else 0
        number = f"{abs(value):,.{digits}f}"
        sign = "-" if value < 0 and float(number.replace(",", "")) else ""
        return f"{sign}{self.symbol}{number}" if self.symbol else f"{sign}{number} {self.currency}"

    @property
    def rate(self) -> str:
        """`$1.00 per credit` (`$0.0125 per credit` for a price finer than cents)."""
        per = self.per_credit
        return f"{self.money(per, 2 if round(per, 2) == per else 4)} per credit"

    def estimate(self, credits: float) -> str:
        """`≈ $1,234 at $1.00 per credit`: plain text (Markdown needs `ui.safety.md` for `$`)."""
        return f"≈ {self.money(self.amount(credits))} at {self.rate}"

    def column(self) -> str:
        """The CSV column of the estimate, naming the currency: `cost_usd_estimate`."""
        return f"cost_{self.currency.lower()}_estimate"

    def estimate_columns(self, credits) -> dict:
        """What every CSV with credits adds: the estimate per row, rounded to cents, and the
        price it used."""
        return {self.column(): (self.amount(credits)).round(2), "price_per_credit": self.per_credit}


def configured() -> Price:
    """The price of the settings; raises `BadSetting` with what to fix."""
    raw_price = os.environ.get(ENV_PRICE, "").strip()
    raw_currency = os.environ.get(ENV_CURRENCY, "").strip()
    price = DEFAULT_PRICE
    if raw_price:
        try:
            price = float(raw_price)
        except ValueError:
            price = math.nan
        if not (0 <= price <= MAX_PRICE):
            raise BadSetting(
                f"{ENV_PRICE} must be a number from 0 to {MAX_PRICE:,.0f}, not {raw_price!r}; "
                f"using {DEFAULT_PRICE:.2f}."
            )
    currency = raw_currency.upper() or DEFAULT_CURRENCY
    if not _CODE.fullmatch(currency):
        raise BadSetting(
            f"{ENV_CURRENCY} must be a three-letter currency code such as USD or EUR, not "
            f"{raw_currency!r}; using {DEFAULT_CURRENCY}."
        )
    return Price(price, currency)


def settings_or_default() -> tuple[Price, str | None]:
    """The configured price, or the default with the reason the settings were not usable."""
    try:
        return configured(), None
    except BadSetting as exc:
        currency = os.environ.get(ENV_CURRENCY, "").strip().upper()
        usable = currency if _CODE.fullmatch(currency or "") else DEFAULT_CURRENCY
        try:
            price = float(os.environ.get(ENV_PRICE, "") or DEFAULT_PRICE)
        except ValueError:
            price = DEFAULT_PRICE
        if not (0 <= price <= MAX_PRICE):
            price = DEFAULT_PRICE
        return Price(price, usable), str(exc)
