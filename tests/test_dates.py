"""parse_date: every supported form, Buddhist-era years, relative dates, and what is not a date."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from tasks.dates import date_from_url, parse_date

NOW = datetime(2023, 9, 20, 12, 0, tzinfo=UTC)
BANGKOK = ZoneInfo("Asia/Bangkok")


def day(text: str, **kwargs: object) -> str | None:
    parsed = parse_date(text, now=NOW, **kwargs)  # type: ignore[arg-type]
    assert parsed is None or parsed.tzinfo is not None
    return parsed.date().isoformat() if parsed else None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("14 September 2023", "2023-09-14"),
        ("Sep 8, 2023", "2023-09-08"),
        ("Sept. 14, 2023", "2023-09-14"),
        ("September 14th, 2023 10:30 AM", "2023-09-14"),
        ("Thursday, 14 September 2023", "2023-09-14"),
        ("Posted on June 2, 2023 by Maria", "2023-06-02"),
        ("14/09/2023", "2023-09-14"),
        ("09/14/2023", "2023-09-14"),  # month first: 14 cannot be a month
        ("14.09.2023", "2023-09-14"),
        ("14-09-2023", "2023-09-14"),
        ("2023-09-14", "2023-09-14"),
        ("2023/09/14", "2023-09-14"),
        ("20230914", "2023-09-14"),
        ("2023年9月14日", "2023-09-14"),
        # other languages
        ("14 septembre 2023", "2023-09-14"),
        ("14. März 2023", "2023-03-14"),
        ("14 de septiembre de 2023", "2023-09-14"),
        ("14 de setembro de 2023", "2023-09-14"),
        ("14 settembre 2023", "2023-09-14"),
        ("14 maart 2023", "2023-03-14"),
        ("14 Agustus 2023", "2023-08-14"),
        ("14 Mei 2023", "2023-05-14"),
        # Thai, Buddhist era
        ("14 กันยายน 2566", "2023-09-14"),
        ("14 ก.ย. 2566", "2023-09-14"),
        ("1 ม.ค. 2566", "2023-01-01"),
        ("31 ธ.ค. 2565", "2022-12-31"),
        ("วันที่ 14 ก.ย. 66 เวลา 10:30 น.", "2023-09-14"),
        ("วันพฤหัสบดีที่ 14 กันยายน พ.ศ. 2566", "2023-09-14"),
        ("14/09/2566", "2023-09-14"),
        ("Unix 1694678400", None),
        ("1694678400", "2023-09-14"),
    ],
)
def test_absolute_dates(text: str, expected: str | None) -> None:
    assert day(text) == expected


@pytest.mark.parametrize(
    ("full", "short", "month"),
    [
        ("มกราคม", "ม.ค.", 1),
        ("กุมภาพันธ์", "ก.พ.", 2),
        ("มีนาคม", "มี.ค.", 3),
        ("เมษายน", "เม.ย.", 4),
        ("พฤษภาคม", "พ.ค.", 5),
        ("มิถุนายน", "มิ.ย.", 6),
        ("กรกฎาคม", "ก.ค.", 7),
        ("สิงหาคม", "ส.ค.", 8),
        ("กันยายน", "ก.ย.", 9),
        ("ตุลาคม", "ต.ค.", 10),
        ("พฤศจิกายน", "พ.ย.", 11),
        ("ธันวาคม", "ธ.ค.", 12),
    ],
)
def test_every_thai_month(full: str, short: str, month: int) -> None:
    expected = f"2022-{month:02d}-05"
    assert day(f"5 {full} 2565") == expected
    assert day(f"5 {short} 2565") == expected


def test_times_and_zones() -> None:
    assert parse_date("2023-09-14T10:30:00+07:00", now=NOW) == datetime(
        2023, 9, 14, 10, 30, tzinfo=timezone(timedelta(hours=7))
    )
    assert parse_date("2023-09-14T03:30:00Z", now=NOW) == datetime(2023, 9, 14, 3, 30, tzinfo=UTC)
    assert parse_date("Thu, 14 Sep 2023 08:00:00 GMT", now=NOW) == datetime(
        2023, 9, 14, 8, tzinfo=UTC
    )
    assert parse_date("Thu, 14 Sep 2023 08:00:00 +0700", now=NOW) == datetime(
        2023, 9, 14, 1, tzinfo=UTC
    )
    assert parse_date("September 14th, 2023 10:30 PM", now=NOW) == datetime(
        2023, 9, 14, 22, 30, tzinfo=UTC
    )
    eastern = parse_date("March 3, 2023 at 5:45 pm EST", now=NOW)
    assert eastern == datetime(2023, 3, 3, 22, 45, tzinfo=UTC)


def test_naive_dates_use_the_given_zone() -> None:
    parsed = parse_date("14 September 2023 10:30", tz=BANGKOK, now=NOW)
    assert parsed == datetime(2023, 9, 14, 10, 30, tzinfo=BANGKOK)
    assert parse_date("2023-09-14", tz=BANGKOK, now=NOW) == datetime(2023, 9, 14, tzinfo=BANGKOK)


def test_day_first_unless_impossible() -> None:
    assert day("03/04/2023") == "2023-04-03"
    assert day("03/04/2023", dayfirst=False) == "2023-03-04"
    assert day("12/25/2023") is None  # December 25th is in the future of NOW
    assert day("04/25/2023") == "2023-04-25"


@pytest.mark.parametrize(
    ("text", "delta"),
    [
        ("3 hours ago", timedelta(hours=3)),
        ("an hour ago", timedelta(hours=1)),
        ("5 mins ago", timedelta(minutes=5)),
        ("2 days ago", timedelta(days=2)),
        ("yesterday", timedelta(days=1)),
        ("Yesterday 12:35PM", timedelta(days=1)),
        ("today", timedelta()),
        ("เมื่อวานนี้", timedelta(days=1)),
        ("เมื่อวาน", timedelta(days=1)),
        ("2 วันที่แล้ว", timedelta(days=2)),
        ("5 ชั่วโมงที่แล้ว", timedelta(hours=5)),
        ("10 นาทีที่แล้ว", timedelta(minutes=10)),
    ],
)
def test_relative_dates(text: str, delta: timedelta) -> None:
    assert parse_date(text, now=NOW) == NOW - delta


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "© 2023",
        "Copyright © 2023 Iron & Steel Institute of Thailand",
        "(c) 2019-2023 Example Media",
        "Copyright © 2019–2023 Example Media",
        "© Copyright 2023 Example Media",
        "(C) 2023 Example Media. All rights reserved.",
        "2023",
        "September 2023",
        "Related News",
        "Mayor said on Monday",
        "32/13/2023",
        "version 1.2.3",
        "call 02-123-4567",
    ],
)
def test_not_dates(text: str) -> None:
    assert parse_date(text, now=NOW) is None


def test_future_dates_are_rejected_beyond_a_day_of_skew() -> None:
    assert parse_date("21 September 2023", now=NOW) is not None  # within the skew
    assert parse_date("25 September 2023", now=NOW) is None
    assert parse_date("2030-01-01T00:00:00Z", now=NOW) is None
    assert parse_date("14 ก.ย. 2567", now=NOW) is None  # 2024


def test_a_date_within_the_skew_is_read_as_now_never_in_the_future() -> None:
    assert parse_date("21 September 2023", now=NOW) == NOW
    assert parse_date("2023-09-20T18:00:00Z", now=NOW) == NOW
    assert parse_date("2023-09-20T11:00:00Z", now=NOW) == datetime(2023, 9, 20, 11, tzinfo=UTC)
    assert date_from_url("https://x.org/2023/09/21/story", now=NOW) == NOW


def test_copyright_next_to_a_real_date() -> None:
    assert day("© 2023 Example. Published 14 September 2023") == "2023-09-14"


def test_date_from_url() -> None:
    assert date_from_url("https://x.org/2023/09/14/story", now=NOW) == datetime(
        2023, 9, 14, tzinfo=UTC
    )
    assert date_from_url("https://x.org/news/20230914-story", now=NOW) is not None
    assert date_from_url("https://x.org/news/2023-09-14-story", now=NOW) is not None
    assert date_from_url("https://x.org/news/12345", now=NOW) is None
    assert date_from_url("https://x.org/2031/01/01/story", now=NOW) is None
