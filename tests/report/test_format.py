"""Formatting helpers, safe file names and SVG geometry, with exact values and properties."""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st

from report.render import (
    account_file_name,
    account_file_names,
    change_class,
    fmt_num,
    fmt_pct,
    fmt_points,
)
from report.svg import sparkline, sparkline_points
from report.words import counted

SAFE = re.compile(r"^[A-Za-z0-9_-]{1,80}(\.[0-9a-f]{12})?\.html$")


def test_percent_and_points() -> None:
    assert [fmt_pct(p) for p in (0.723, 0.0, 1.0, 0.004, 0.994, 0.006)] == [
        "72%",
        "<1%",
        ">99%",
        "<1%",
        "99%",
        "1%",
    ]
    assert fmt_pct(None) == "—"
    assert [fmt_points(c) for c in (0.05, -0.031, 0.004, -0.004, None, float("nan"))] == [
        "+5 pts",
        "−3 pts",
        "no change",
        "no change",
        "new",
        "new",
    ]
    assert [change_class(c) for c in (0.05, -0.031, 0.004, None)] == ["up", "down", "flat", "new"]


def test_numbers_and_labels() -> None:
    assert [fmt_num(v) for v in (3.0, 1234.0, 12.345, 0.5, 0.125, -0.1, 250.7, None)] == [
        "3",
        "1,234",
        "12.3",
        "0.5",
        "0.12",
        "-0.1",
        "251",
        "—",
    ]
    assert counted(1, "day") == "1 day" and counted(2, "day") == "2 days"
    assert counted(1234, "event") == "1,234 events" and counted(1.5, "day") == "1.5 days"
    assert counted(1, "person", "people") == "1 person" and counted(None, "day") == "—"


def test_file_names() -> None:
    assert account_file_name("ACC-00042") == "ACC-00042.html"
    weird = account_file_name("../etc/passwd")
    assert SAFE.match(weird) and weird.startswith("etc_passwd.")
    assert account_file_name("a b") != account_file_name("a_b")
    assert account_file_name("a_b") == "a_b.html"
    assert account_file_name("CON") != "CON.html" and SAFE.match(account_file_name("nul"))
    # an id crafted as another account's hashed name cannot take that name: kept names have no "."
    crafted = weird.removesuffix(".html").replace(".", "-")
    assert account_file_name(crafted) == f"{crafted}.html" != weird


@given(st.text(min_size=1, max_size=200))
def test_file_name_is_always_safe_and_stable(account_id: str) -> None:
    name = account_file_name(account_id)
    assert SAFE.match(name)
    assert name == account_file_name(account_id)


@given(st.text(min_size=1, max_size=30), st.text(min_size=1, max_size=30))
def test_different_ids_get_different_files(a: str, b: str) -> None:
    if a != b:
        assert account_file_name(a) != account_file_name(b)


@given(
    st.lists(
        st.one_of(st.none(), st.floats(allow_nan=True, allow_infinity=True, width=32)), max_size=30
    ),
    st.integers(10, 200),
    st.integers(6, 80),
)
def test_sparkline_stays_inside_its_box(
    values: list[float | None], width: int, height: int
) -> None:
    pts = sparkline_points(values, width, height)
    finite = [v for v in values if v is not None and abs(v) != float("inf") and v == v]
    assert len(pts) == len(finite)
    for x, y in pts:
        assert 0 <= x <= width and 0 <= y <= height
    assert [x for x, _ in pts] == sorted(x for x, _ in pts)
    assert str(sparkline(values, "label")).startswith('<svg class="spark"')


def test_sparkline_geometry_exact() -> None:
    # 3 points in a 14x14 box with 2 units of padding: x at 2, 7, 12; y flipped (max at top)
    assert sparkline_points([0, 5, 10], 14, 14) == [(2.0, 12.0), (7.0, 7.0), (12.0, 2.0)]
    assert sparkline_points([4, 4], 14, 14) == [(2.0, 7.0), (12.0, 7.0)]  # flat -> middle
    assert sparkline_points([0.5, 2.0], 14, 14, y_min=0, y_max=1) == [(2.0, 7.0), (12.0, 2.0)]


def test_svg_labels_are_escaped() -> None:
    out = str(sparkline([1, 2], 'a<b>"c'))
    assert "<b>" not in out and "a&lt;b&gt;&#34;c" in out


def test_ids_differing_only_by_case_get_files_apart_on_any_file_system() -> None:
    names = account_file_names(["Acme", "acme", "ACME", "B-2", "b-3"])
    assert names[3:] == ["B-2.html", "b-3.html"]  # no case twin: the plain name a CRM can build
    assert len({n.casefold() for n in names}) == 5
    assert all(SAFE.match(n) and n.startswith(("Acme.", "acme.", "ACME.")) for n in names[:3])


@given(st.lists(st.text(min_size=1, max_size=12), unique=True, max_size=12))
def test_no_two_accounts_share_a_file_even_ignoring_case(ids: list[str]) -> None:
    names = account_file_names(ids)
    assert len({n.casefold() for n in names}) == len(ids)
    assert all(SAFE.match(n) for n in names)
