"""Money and the pure money rules: exact parsing, vendor scales, the currency table, stake and
win splits, and balanced journal entries. Unit cases plus hypothesis properties."""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation, localcontext

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from croupier.bootstrap import currency_table, iso_currencies
from croupier.config import Settings
from croupier.domain.errors import (
    AmountOutOfRange,
    AmountPrecisionError,
    ConfigurationError,
    InsufficientFunds,
    InvalidAmount,
    UnknownCurrency,
)
from croupier.domain.ledger import (
    EntryKind,
    JournalEntry,
    Posting,
    UnbalancedEntry,
    transfer,
)
from croupier.domain.money import (
    INT64_MAX,
    Currency,
    CurrencyKind,
    CurrencyTable,
    check_minor,
    format_decimal,
    from_vendor_scale,
    parse_decimal,
    to_vendor_scale,
)
from croupier.domain.wallet import (
    Balances,
    BonusPolicy,
    StakeOrder,
    WinSplit,
    split_stake,
    split_win,
)

USD = Currency("USD", 2, CurrencyKind.FIAT, 10**9 * 100)
JPY = Currency("JPY", 0, CurrencyKind.FIAT, 10**9)
BHD = Currency("BHD", 3, CurrencyKind.FIAT, 10**9 * 1000)
BTC = Currency("BTC", 8, CurrencyKind.CRYPTO, 10**9 * 10**8)
HUB88_SCALE = 5

EXPONENTS = st.integers(min_value=0, max_value=18)


def currency_at(exponent: int, max_amount: int = INT64_MAX) -> Currency:
    return Currency("TST", exponent, CurrencyKind.FIAT, max_amount)


@st.composite
def currency_and_minor(draw: st.DrawFn) -> tuple[Currency, int]:
    currency = currency_at(draw(EXPONENTS))
    return currency, draw(st.integers(min_value=0, max_value=currency.max_amount))


# -- parse_decimal / format_decimal ----------------------------------------------------------


@pytest.mark.parametrize("exponent", range(19))
def test_format_then_parse_is_identity_at_every_exponent_edge(exponent: int) -> None:
    currency = currency_at(exponent)
    for minor in (0, 1, 9, 10, 10**exponent, 10**exponent + 1, currency.max_amount):
        text = format_decimal(minor, currency)
        assert parse_decimal(text, currency) == minor
        if exponent:
            whole, _, fraction = text.partition(".")
            assert len(fraction) == exponent
            assert int(whole) == minor // 10**exponent
        else:
            assert "." not in text


@given(currency_and_minor())
def test_format_then_parse_round_trips(pair: tuple[Currency, int]) -> None:
    currency, minor = pair
    text = format_decimal(minor, currency)
    assert parse_decimal(text, currency) == minor
    # The text is the exact value: Decimal agrees, digit for digit.
    with localcontext() as ctx:
        ctx.prec = 60
        assert Decimal(text).scaleb(currency.exponent) == minor


@given(currency_and_minor(), st.integers(min_value=1, max_value=5))
def test_trailing_zeros_past_the_precision_are_exact(
    pair: tuple[Currency, int], zeros: int
) -> None:
    currency, minor = pair
    text = format_decimal(minor, currency)
    padded = text + ("0" * zeros if "." in text else "." + "0" * zeros)
    assume(len(padded) <= 40)
    assert parse_decimal(padded, currency) == minor


@given(currency_and_minor(), st.integers(min_value=1, max_value=9))
def test_a_nonzero_digit_past_the_precision_is_refused(
    pair: tuple[Currency, int], digit: int
) -> None:
    currency, minor = pair
    text = format_decimal(minor, currency)
    finer = text + (str(digit) if "." in text else f".{digit}")
    assume(len(finer) <= 40)
    with pytest.raises(AmountPrecisionError) as info:
        parse_decimal(finer, currency)
    assert info.value.details["exponent"] == currency.exponent


def test_trailing_zeros_accepted_usd() -> None:
    assert parse_decimal("1.500", USD) == 150
    assert parse_decimal("1.5", USD) == 150
    assert parse_decimal("12.34", USD) == 1234
    assert parse_decimal("0", USD) == 0
    assert parse_decimal("0.00", USD) == 0
    assert parse_decimal("0.01", USD) == 1
    assert parse_decimal("7", JPY) == 7
    assert parse_decimal("7.000", JPY) == 7
    assert parse_decimal("1.234", BHD) == 1234
    assert parse_decimal("0.00000001", BTC) == 1


@pytest.mark.parametrize(
    ("text", "currency"),
    [("1.001", USD), ("0.001", USD), ("1.5", JPY), ("0.0001", BHD), ("0.000000001", BTC)],
)
def test_digits_finer_than_the_exponent_are_refused(text: str, currency: Currency) -> None:
    with pytest.raises(AmountPrecisionError):
        parse_decimal(text, currency)


@pytest.mark.parametrize("value", [1.5, 1.0, 0.0, 150, 0, True, False, None, b"1.00", [1]])
def test_parse_decimal_refuses_non_strings(value: object) -> None:
    with pytest.raises(InvalidAmount) as info:
        parse_decimal(value, USD)
    assert type(info.value) is InvalidAmount


@pytest.mark.parametrize(
    "text",
    [
        "",
        "1e5",
        "1E5",
        "1.0e2",
        "NaN",
        "nan",
        "inf",
        "Infinity",
        "-inf",
        "+1",
        " 1",
        "1 ",
        "1\n",
        "1.",
        ".5",
        ".",
        "-",
        "01.5",
        "00",
        "007",
        "1,5",
        "1_000",
        "0x10",
        "\u0661\u0662",  # Arabic-Indic digits: int() reads them as 12
        "\uff11",  # fullwidth 1
        "1.\uff15",  # fullwidth 5 after the point
        "--1",
        "-+1",
        "1.2.3",
    ],
)
def test_parse_decimal_refuses_malformed_strings(text: str) -> None:
    with pytest.raises(InvalidAmount) as info:
        parse_decimal(text, USD)
    assert type(info.value) is InvalidAmount


@pytest.mark.parametrize("text", ["-1.00", "-1", "-0", "-0.01", "-12.5"])
def test_negative_amounts_are_out_of_range(text: str) -> None:
    with pytest.raises(AmountOutOfRange):
        parse_decimal(text, USD)


def test_strings_over_forty_characters_are_refused_before_parsing() -> None:
    forty = "1." + "0" * 38
    assert len(forty) == 40
    assert parse_decimal(forty, USD) == 100
    with pytest.raises(InvalidAmount) as info:
        parse_decimal(forty + "0", USD)
    assert type(info.value) is InvalidAmount
    with pytest.raises(InvalidAmount):
        parse_decimal("1" * 41, USD)


def test_amounts_above_the_largest_call_are_out_of_range() -> None:
    assert parse_decimal("1000000000", USD) == USD.max_amount
    with pytest.raises(AmountOutOfRange):
        parse_decimal("1000000000.01", USD)
    with pytest.raises(AmountOutOfRange):
        parse_decimal("99999999999999999999", currency_at(0))


_PLAIN = re.compile(r"(0|[1-9][0-9]*)(\.[0-9]+)?", re.ASCII)


@given(
    EXPONENTS,
    st.text(alphabet="0123456789.-+eE ,_\n\u0661\uff11", max_size=45)
    | st.from_regex(_PLAIN, fullmatch=True),
)
def test_parse_decimal_is_exact_or_refuses(exponent: int, text: str) -> None:
    """Whatever the text, the answer is the exact value or a typed amount error."""
    currency = currency_at(exponent)
    try:
        minor = parse_decimal(text, currency)
    except InvalidAmount:
        plain = _PLAIN.fullmatch(text) is not None and len(text) <= 40
        if plain:  # a plain decimal may only be refused for precision or size
            with localcontext() as ctx:
                ctx.prec = 100
                scaled = Decimal(text).scaleb(exponent)
            assert scaled != scaled.to_integral_value() or scaled > currency.max_amount
        return
    assert _PLAIN.fullmatch(text), text
    assert len(text) <= 40
    with localcontext() as ctx:
        ctx.prec = 100
        try:
            exact = Decimal(text).scaleb(exponent)
        except InvalidOperation:  # pragma: no cover - the regex admits only plain decimals
            pytest.fail(f"accepted {text!r} which Decimal cannot read")
    assert exact == minor
    assert 0 <= minor <= currency.max_amount


# -- check_minor -------------------------------------------------------------------------------


@pytest.mark.parametrize("value", [True, False, 1.0, 0.0, 1.5, "1", None, Decimal(1)])
def test_check_minor_refuses_non_integers(value: object) -> None:
    with pytest.raises(InvalidAmount) as info:
        check_minor(value, USD)
    assert type(info.value) is InvalidAmount


@pytest.mark.parametrize("value", [-1, -(2**63), USD.max_amount + 1, INT64_MAX, 2**64])
def test_check_minor_refuses_negative_and_oversize(value: int) -> None:
    with pytest.raises(AmountOutOfRange):
        check_minor(value, USD)


@given(st.integers(min_value=0, max_value=USD.max_amount))
def test_check_minor_accepts_every_amount_in_range(value: int) -> None:
    assert check_minor(value, USD) == value


# -- vendor scales (Hub88: x100000) -----------------------------------------------------------


def test_hub88_scale_usd() -> None:
    assert from_vendor_scale(356000, scale_exponent=HUB88_SCALE, currency=USD) == 356
    assert to_vendor_scale(356, scale_exponent=HUB88_SCALE, currency=USD) == 356000
    assert from_vendor_scale(0, scale_exponent=HUB88_SCALE, currency=USD) == 0
    with pytest.raises(AmountPrecisionError):
        from_vendor_scale(356001, scale_exponent=HUB88_SCALE, currency=USD)
    with pytest.raises(AmountPrecisionError):
        from_vendor_scale(999, scale_exponent=HUB88_SCALE, currency=USD)


def test_hub88_scale_jpy_bhd_btc() -> None:
    assert from_vendor_scale(300000, scale_exponent=HUB88_SCALE, currency=JPY) == 3
    with pytest.raises(AmountPrecisionError):
        from_vendor_scale(356000, scale_exponent=HUB88_SCALE, currency=JPY)
    assert to_vendor_scale(3, scale_exponent=HUB88_SCALE, currency=JPY) == 300000

    assert from_vendor_scale(356000, scale_exponent=HUB88_SCALE, currency=BHD) == 3560
    assert from_vendor_scale(356100, scale_exponent=HUB88_SCALE, currency=BHD) == 3561
    with pytest.raises(AmountPrecisionError):
        from_vendor_scale(356010, scale_exponent=HUB88_SCALE, currency=BHD)
    assert to_vendor_scale(3561, scale_exponent=HUB88_SCALE, currency=BHD) == 356100

    # BTC is finer than the scale: every vendor amount fits, not every BTC amount goes back.
    assert from_vendor_scale(356000, scale_exponent=HUB88_SCALE, currency=BTC) == 356000000
    assert from_vendor_scale(1, scale_exponent=HUB88_SCALE, currency=BTC) == 1000
    assert to_vendor_scale(356000000, scale_exponent=HUB88_SCALE, currency=BTC) == 356000
    with pytest.raises(AmountPrecisionError):
        to_vendor_scale(1, scale_exponent=HUB88_SCALE, currency=BTC)
    with pytest.raises(AmountPrecisionError):
        to_vendor_scale(356000001, scale_exponent=HUB88_SCALE, currency=BTC)


@pytest.mark.parametrize("value", [True, 1.0, "356000", None, Decimal(356000)])
def test_vendor_scale_refuses_non_integers(value: object) -> None:
    with pytest.raises(InvalidAmount) as info:
        from_vendor_scale(value, scale_exponent=HUB88_SCALE, currency=USD)
    assert type(info.value) is InvalidAmount


def test_vendor_scale_refuses_negative_and_oversize() -> None:
    with pytest.raises(AmountOutOfRange):
        from_vendor_scale(-100000, scale_exponent=HUB88_SCALE, currency=USD)
    too_big = (USD.max_amount + 1) * 10**3
    with pytest.raises(AmountOutOfRange):
        from_vendor_scale(too_big, scale_exponent=HUB88_SCALE, currency=USD)
    with pytest.raises(AmountOutOfRange):
        from_vendor_scale(BTC.max_amount, scale_exponent=HUB88_SCALE, currency=BTC)


@given(st.sampled_from([USD, JPY, BHD, BTC]), st.integers(min_value=0, max_value=10**15))
def test_vendor_scale_round_trip(currency: Currency, vendor: int) -> None:
    shift = HUB88_SCALE - currency.exponent
    exact = shift <= 0 or vendor % 10**shift == 0
    try:
        minor = from_vendor_scale(vendor, scale_exponent=HUB88_SCALE, currency=currency)
    except AmountPrecisionError:
        assert not exact
        return
    except AmountOutOfRange:
        assert vendor * 10 ** max(-shift, 0) // 10 ** max(shift, 0) > currency.max_amount
        return
    assert exact
    assert Decimal(vendor).scaleb(-HUB88_SCALE) == Decimal(minor).scaleb(-currency.exponent)
    assert to_vendor_scale(minor, scale_exponent=HUB88_SCALE, currency=currency) == vendor


@given(st.data())
def test_minor_to_vendor_and_back(data: st.DataObject) -> None:
    currency = data.draw(st.sampled_from([USD, JPY, BHD, BTC]))
    minor = data.draw(st.integers(min_value=0, max_value=currency.max_amount))
    shift = HUB88_SCALE - currency.exponent
    try:
        vendor = to_vendor_scale(minor, scale_exponent=HUB88_SCALE, currency=currency)
    except AmountPrecisionError:
        assert shift < 0
        assert minor % 10**-shift != 0
        return
    assert from_vendor_scale(vendor, scale_exponent=HUB88_SCALE, currency=currency) == minor


# -- the currency table --------------------------------------------------------------------


def test_iso_currencies_have_their_iso_exponents() -> None:
    iso = iso_currencies()
    assert iso["JPY"] == 0
    assert iso["USD"] == 2
    assert iso["EUR"] == 2
    assert iso["BHD"] == 3
    assert "XAU" not in iso
    assert "XDR" not in iso
    assert all(0 <= exponent <= 18 for exponent in iso.values())


def test_default_table_fits_int64_everywhere() -> None:
    table = currency_table(Settings())
    assert table["EUR"].exponent == 2
    assert table["EUR"].max_amount == 10**9 * 100
    assert table["BTC"].kind is CurrencyKind.CRYPTO
    assert table["JPY"].kind is CurrencyKind.FIAT
    assert all(c.max_amount <= INT64_MAX for c in table.values())
    with pytest.raises(UnknownCurrency):
        table.get_currency("XAU")
    with pytest.raises(UnknownCurrency):
        table.get_currency(None)


@pytest.mark.parametrize("exponent", [19, 30, -1])
def test_build_refuses_exponents_outside_0_to_18(exponent: int) -> None:
    with pytest.raises(ConfigurationError):
        CurrencyTable.build(fiat={"USD": 2}, crypto={"ZZZ": exponent}, max_major_amount=1)


def test_build_refuses_a_largest_call_past_int64() -> None:
    with pytest.raises(ConfigurationError):
        CurrencyTable.build(fiat={}, crypto={"WEI": 18}, max_major_amount=10**9)
    # Exactly at the edge: 9 major units at 18 decimals fit, 10 do not.
    table = CurrencyTable.build(fiat={}, crypto={"WEI": 18}, max_major_amount=9)
    assert table["WEI"].max_amount == 9 * 10**18
    with pytest.raises(ConfigurationError):
        CurrencyTable.build(fiat={}, crypto={"WEI": 18}, max_major_amount=10)
    with pytest.raises(ConfigurationError):
        CurrencyTable.build(fiat={"USD": 2}, crypto={}, max_major_amount=INT64_MAX // 100 + 1)


@pytest.mark.parametrize("max_major", [0, -1])
def test_build_refuses_a_non_positive_largest_call(max_major: int) -> None:
    with pytest.raises(ConfigurationError):
        CurrencyTable.build(fiat={"USD": 2}, crypto={}, max_major_amount=max_major)


def test_build_refuses_crypto_shadowing_iso() -> None:
    with pytest.raises(ConfigurationError, match="USD"):
        CurrencyTable.build(fiat={"USD": 2}, crypto={"USD": 6}, max_major_amount=10**9)
    with pytest.raises(ConfigurationError):
        CurrencyTable.build(fiat=iso_currencies(), crypto={"EUR": 2}, max_major_amount=10**9)


def test_table_refuses_duplicate_codes() -> None:
    with pytest.raises(ConfigurationError, match="twice"):
        CurrencyTable([USD, Currency("USD", 3, CurrencyKind.FIAT, 1000)])


@pytest.mark.parametrize("code", ["usd", "US", "U$D", "ABCDEFGHIJK", "1AB", ""])
def test_currency_refuses_bad_codes(code: str) -> None:
    with pytest.raises(ConfigurationError):
        Currency(code, 2, CurrencyKind.FIAT, 100)


@pytest.mark.parametrize("max_amount", [0, -1, INT64_MAX + 1])
def test_currency_refuses_a_largest_call_outside_int64(max_amount: int) -> None:
    with pytest.raises(ConfigurationError):
        Currency("USD", 2, CurrencyKind.FIAT, max_amount)


@given(
    st.dictionaries(st.from_regex(r"[A-Z]{3}", fullmatch=True), st.integers(0, 18), max_size=6),
    st.integers(min_value=1, max_value=10**20),
)
def test_build_accepts_exactly_what_fits(crypto: dict[str, int], max_major: int) -> None:
    fits = all(max_major * 10**e <= INT64_MAX for e in crypto.values())
    try:
        table = CurrencyTable.build(fiat={}, crypto=crypto, max_major_amount=max_major)
    except ConfigurationError:
        assert not fits
        return
    assert fits
    assert set(table) == set(crypto)
    for code, exponent in crypto.items():
        assert table[code].max_amount == max_major * 10**exponent


# -- stake and win splits ----------------------------------------------------------------------

POLICIES = st.builds(BonusPolicy, st.sampled_from(StakeOrder), st.sampled_from(WinSplit))
SMALL = st.integers(min_value=0, max_value=10**6)


@given(SMALL, SMALL, SMALL, POLICIES)
def test_split_stake(amount: int, cash: int, bonus: int, policy: BonusPolicy) -> None:
    balances = Balances("EUR", cash, bonus)
    if amount > cash + bonus:
        with pytest.raises(InsufficientFunds) as info:
            split_stake(amount, balances, policy)
        assert info.value.details == {"currency": "EUR", "cash": cash, "bonus": bonus}
        return
    from_cash, from_bonus = split_stake(amount, balances, policy)
    assert from_cash + from_bonus == amount
    assert 0 <= from_cash <= cash
    assert 0 <= from_bonus <= bonus
    if policy.stake_order is StakeOrder.CASH_FIRST:
        assert from_cash == min(amount, cash)
    else:
        assert from_bonus == min(amount, bonus)


def test_split_stake_examples() -> None:
    cash_first, bonus_first = BonusPolicy(), BonusPolicy(stake_order=StakeOrder.BONUS_FIRST)
    assert split_stake(70, Balances("EUR", 50, 30), cash_first) == (50, 20)
    assert split_stake(70, Balances("EUR", 50, 30), bonus_first) == (40, 30)
    assert split_stake(80, Balances("EUR", 50, 30), cash_first) == (50, 30)
    assert split_stake(0, Balances("EUR", 0, 0), cash_first) == (0, 0)
    with pytest.raises(InsufficientFunds):
        split_stake(81, Balances("EUR", 50, 30), bonus_first)


@given(SMALL, SMALL, SMALL)
def test_split_win_proportional(amount: int, cash_staked: int, bonus_staked: int) -> None:
    policy = BonusPolicy()
    cash, bonus = split_win(
        amount, cash_staked=cash_staked, bonus_staked=bonus_staked, policy=policy
    )
    assert cash + bonus == amount
    assert cash >= 0
    assert bonus >= 0
    staked = cash_staked + bonus_staked
    if staked == 0 or bonus_staked == 0:
        assert (cash, bonus) == (amount, 0)
        return
    # Cash gets at most its exact share; the rounding remainder (< 1 unit) goes to bonus.
    assert cash * staked <= amount * cash_staked < (cash + 1) * staked
    assert bonus * staked >= amount * bonus_staked
    assert (bonus - 1) * staked < amount * bonus_staked


@given(SMALL, SMALL, SMALL, st.sampled_from(StakeOrder))
def test_split_win_cash_policy(
    amount: int, cash_staked: int, bonus_staked: int, order: StakeOrder
) -> None:
    policy = BonusPolicy(stake_order=order, win_split=WinSplit.CASH)
    assert split_win(amount, cash_staked=cash_staked, bonus_staked=bonus_staked, policy=policy) == (
        amount,
        0,
    )


def test_split_win_examples() -> None:
    policy = BonusPolicy()
    assert split_win(100, cash_staked=50, bonus_staked=50, policy=policy) == (50, 50)
    assert split_win(100, cash_staked=2, bonus_staked=1, policy=policy) == (66, 34)
    assert split_win(1, cash_staked=1, bonus_staked=1, policy=policy) == (0, 1)
    assert split_win(7, cash_staked=0, bonus_staked=5, policy=policy) == (0, 7)
    assert split_win(7, cash_staked=0, bonus_staked=0, policy=policy) == (7, 0)


# -- journal entries -------------------------------------------------------------------------


def test_journal_entry_refuses_broken_entries() -> None:
    with pytest.raises(UnbalancedEntry):
        JournalEntry(EntryKind.BET, ())
    with pytest.raises(UnbalancedEntry):
        JournalEntry(EntryKind.BET, (Posting(1, "EUR", 5),))
    with pytest.raises(UnbalancedEntry):
        JournalEntry(EntryKind.BET, (Posting(1, "EUR", 5), Posting(2, "EUR", -4)))
    with pytest.raises(UnbalancedEntry):
        JournalEntry(EntryKind.BET, (Posting(1, "EUR", 0), Posting(2, "EUR", 0)))
    with pytest.raises(UnbalancedEntry):
        JournalEntry(
            EntryKind.BET,
            (Posting(1, "EUR", 5), Posting(2, "EUR", -5), Posting(3, "EUR", 0)),
        )
    # Balanced overall but not per currency.
    with pytest.raises(UnbalancedEntry):
        JournalEntry(EntryKind.BET, (Posting(1, "EUR", 5), Posting(2, "USD", -5)))


@st.composite
def balanced_postings(draw: st.DrawFn) -> tuple[Posting, ...]:
    out: list[Posting] = []
    for currency in draw(st.lists(st.sampled_from(["EUR", "USD", "BTC"]), min_size=1, unique=True)):
        amounts = draw(st.lists(st.integers(-(10**12), 10**12).filter(bool), min_size=1))
        total = sum(amounts)
        if total == 0:
            amounts.append(draw(st.integers(1, 10**12)))
            total = sum(amounts)
        amounts.append(-total)
        out += [Posting(draw(st.integers(1, 50)), currency, a) for a in amounts]
    return tuple(draw(st.permutations(out)))


@given(balanced_postings())
def test_journal_entry_accepts_every_balanced_entry(postings: tuple[Posting, ...]) -> None:
    entry = JournalEntry(EntryKind.WIN, postings)
    assert entry.postings == postings


@given(balanced_postings(), st.integers(min_value=0), st.integers(-5, 5).filter(bool))
def test_journal_entry_refuses_any_nudged_posting(
    postings: tuple[Posting, ...], index: int, nudge: int
) -> None:
    i = index % len(postings)
    target = postings[i]
    assume(target.amount + nudge != 0)
    broken = (*postings[:i], Posting(target.account_id, target.currency, target.amount + nudge))
    with pytest.raises(UnbalancedEntry):
        JournalEntry(EntryKind.WIN, broken + postings[i + 1 :])


def test_transfer_drops_zero_legs_and_returns_none_when_nothing_moves() -> None:
    assert transfer(EntryKind.BET, currency="EUR", debits={1: 0, 2: 0}, credits={3: 0}) is None
    assert transfer(EntryKind.BET, currency="EUR", debits={}, credits={}) is None
    entry = transfer(EntryKind.BET, currency="EUR", debits={1: 30, 2: 0}, credits={3: 30})
    assert entry is not None
    assert entry.postings == (Posting(1, "EUR", -30), Posting(3, "EUR", 30))
    assert entry.reverses_entry_id is None
    back = transfer(
        EntryKind.ROLLBACK, currency="EUR", debits={3: 30}, credits={1: 30}, reverses_entry_id=7
    )
    assert back is not None
    assert back.reverses_entry_id == 7
    with pytest.raises(UnbalancedEntry):
        transfer(EntryKind.BET, currency="EUR", debits={1: 30}, credits={3: 29})


@given(
    st.dictionaries(st.integers(1, 20), st.integers(0, 10**9), max_size=4),
    st.integers(21, 40),
)
def test_transfer_balances_debits_into_one_credit(debits: dict[int, int], target: int) -> None:
    total = sum(debits.values())
    entry = transfer(EntryKind.BET, currency="EUR", debits=debits, credits={target: total})
    if total == 0:
        assert entry is None
        return
    assert entry is not None
    assert all(p.amount != 0 for p in entry.postings)
    assert sum(p.amount for p in entry.postings) == 0
    assert {p.account_id: -p.amount for p in entry.postings if p.amount < 0} == {
        account: amount for account, amount in debits.items() if amount
    }
    assert [p for p in entry.postings if p.amount > 0] == [Posting(target, "EUR", total)]
