"""Generated people look like colleagues in the organization's country: names in the order the
locale writes them, few repeated names, and plain ASCII company emails a mail admin would type.

Faker's own data is the oracle here: its family-name and given-name lists (and, for Japanese,
its readings of them) say what a name is made of, independently of how the generator combines
them.
"""

from __future__ import annotations

import re
from datetime import date

import pyarrow.parquet as pq
import pytest
from faker import Faker

from fixtures import GeneratorConfig, generate

LOCAL = re.compile(r"[a-z0-9]+(\.[a-z0-9]+)*")


def _people(tmp_path, locale: str, users: int = 2000):
    cfg = GeneratorConfig.preset(
        "small", users=users, months=1, end=date(2026, 3, 31), seed=5, locale=locale
    )
    generate(tmp_path / locale, cfg)
    return pq.read_table(tmp_path / locale / "users.parquet").to_pandas()


def _provider(locale: str):
    faker = Faker(locale)
    return next(p for p in faker.providers if "person" in type(p).__module__)


def _split(name: str, first_of: set, last_of: set) -> tuple[str, str] | None:
    """(family, given) when the name is a known family name followed by a known given name."""
    for k in (1, 2):
        if name[:k] in last_of and name[k:] in first_of:
            return name[:k], name[k:]
    return None


def _check_emails(users, tld: str) -> None:
    local = users["email"].str.split("@").str[0]
    domain = users["email"].str.split("@").str[1]
    assert users["email"].is_unique
    assert domain.nunique() == 1
    assert re.fullmatch(r"[a-z0-9-]+", domain[0][: -len(tld)]) and domain[0].endswith(tld)
    assert not domain[0].startswith("example.")
    assert all(LOCAL.fullmatch(x) for x in local)
    assert not any(re.fullmatch(r"user\.?\d+|u\d+", x) for x in local)


def test_japanese_names_are_family_name_first_and_emails_romanised(tmp_path):
    users = _people(tmp_path, "ja_JP")
    p = _provider("ja_JP")
    last = {k[0]: k[2] for k in p.last_name_pairs}
    first = {k[0]: k[2] for k in p.first_name_male_pairs + p.first_name_female_pairs}
    parts = users["name"].str.split(" ")
    assert (parts.str.len() == 2).all()
    family, given = parts.str[0], parts.str[1]
    assert family.isin(last).mean() > 0.5 and given.isin(last).mean() < 0.02
    assert given.isin(first).mean() > 0.3 and family.isin(first).mean() < 0.02
    _check_emails(users, ".co.jp")
    known = family.isin(last) & given.isin(first)
    expected = [
        f"{first[g]}.{last[f]}".lower() for f, g in zip(family[known], given[known], strict=True)
    ]
    local = users.loc[known, "email"].str.split("@").str[0].str.rstrip("0123456789")
    assert list(local) == expected


@pytest.mark.parametrize(
    ("locale", "tld", "spelled"),
    [
        ("zh_CN", ".cn", {"王": "wang", "李": "li", "张": "zhang", "刘": "liu"}),
        ("ko_KR", ".co.kr", {"김": "kim", "이": "lee", "박": "park", "최": "choi"}),
    ],
)
def test_chinese_and_korean_names_are_family_name_first_without_a_space(
    tmp_path, locale, tld, spelled
):
    users = _people(tmp_path, locale)
    p = _provider(locale)
    first_of, last_of = set(p.first_names), set(p.last_names)
    assert not users["name"].str.contains(" ").any()
    split = [_split(n, first_of, last_of) for n in users["name"]]
    assert sum(s is not None for s in split) / len(split) > 0.98
    reversed_ = [_split(n, last_of, first_of) for n in users["name"]]
    assert sum(s is not None for s in reversed_) / len(split) < 0.2
    _check_emails(users, tld)
    for (family, _), email in zip(
        (s for s in split if s), users["email"][[s is not None for s in split]], strict=True
    ):
        if family in spelled:
            assert email.split("@")[0].rstrip("0123456789").endswith("." + spelled[family])


@pytest.mark.parametrize("locale", ["ja_JP", "zh_CN", "ko_KR", "en_US", "cs_CZ", "pl_PL"])
def test_two_thousand_people_rarely_share_a_full_name(tmp_path, locale):
    users = _people(tmp_path, locale)
    assert users["name"].duplicated().mean() <= 0.02
    assert users["email"].is_unique


@pytest.mark.parametrize(
    ("locale", "tld"), [("ru_RU", ".ru"), ("el_GR", ".com"), ("th_TH", ".com")]
)
def test_other_scripts_get_transliterated_emails_named_after_the_person(tmp_path, locale, tld):
    users = _people(tmp_path, locale, users=300)
    _check_emails(users, tld)
    assert users["email"].str.split("@").str[0].str.contains(r"[a-z]{2}\.[a-z]{2}").mean() > 0.95


def test_western_names_keep_given_name_first(tmp_path):
    users = _people(tmp_path, "en_US", users=500)
    p = _provider("en_US")
    given = users["name"].str.split(" ").str[0]
    assert given.isin(set(p.first_names)).mean() > 0.98
