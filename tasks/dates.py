"""Publication dates from the text news sites print.

``parse_date`` turns one string (a ``<time datetime>``, a meta value, a dateline) into a
timezone-aware datetime, or None when the string holds no complete date. It understands:

- ISO 8601 with or without zone ("2023-09-14", "2023-09-14T10:30:00+07:00", "20230914T1030Z");
- RFC 2822 ("Thu, 14 Sep 2023 08:00:00 GMT");
- month names in English, French, German, Spanish, Portuguese, Italian, Dutch and Indonesian
  ("14 September 2023", "Sep 8, 2023", "September 14th, 2023 10:30 AM", "14. März 2023",
  "14 de septiembre de 2023");
- Thai month names, full (มกราคม … ธันวาคม) and abbreviated (ม.ค. … ธ.ค.), with Buddhist-era
  years: a Thai date, or any date whose year is above 2400, is BE (2566 = 2023);
- numeric dates, day first unless that is impossible ("14/09/2023", "09/14/2023", "2023/09/14");
- relative dates ("3 hours ago", "yesterday", "เมื่อวานนี้", "2 วันที่แล้ว");
- Unix timestamps (10 or 13 digits).

A year alone is never a date ("© 2023"), and a date more than ``FUTURE_SKEW`` after ``now`` is
rejected: a page cannot have been published tomorrow, so such a value is an event date or a typo.
A date later than ``now`` but within the skew is a clock or zone error and comes back as ``now``:
no result is ever in the future.
Dates without a zone are read in ``tz`` (the page's or the source's zone). Deliberately not
``dateparser``: it reads Thai Buddhist-era years as Gregorian.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from email.utils import parsedate_to_datetime

FUTURE_SKEW = timedelta(days=1)
BUDDHIST_ERA_OFFSET = 543
# Years this far above the Gregorian calendar can only be Buddhist-era years.
BUDDHIST_ERA_MIN_YEAR = 2400
EARLIEST_YEAR = 1990  # news pages older than the web are almost always a misread number

_ENGLISH_MONTHS = (
    "january february march april may june july august september october november december"
)
# Full names per language, January first. Abbreviations are derived below (first 3-4 letters)
# and topped up with the irregular ones.
_MONTH_NAMES_BY_LANGUAGE: dict[str, str] = {
    "en": _ENGLISH_MONTHS,
    "fr": "janvier février mars avril mai juin juillet août septembre octobre novembre décembre",
    "de": "januar februar märz april mai juni juli august september oktober november dezember",
    "es": "enero febrero marzo abril mayo junio julio agosto septiembre octubre noviembre"
    " diciembre",
    "pt": "janeiro fevereiro março abril maio junho julho agosto setembro outubro novembro"
    " dezembro",
    "it": "gennaio febbraio marzo aprile maggio giugno luglio agosto settembre ottobre novembre"
    " dicembre",
    "nl": "januari februari maart april mei juni juli augustus september oktober november december",
    "id": "januari februari maret april mei juni juli agustus september oktober november desember",
}
_EXTRA_MONTH_NAMES: dict[str, int] = {
    "sept": 9,
    "fevrier": 2,
    "aout": 8,
    "decembre": 12,
    "janv": 1,
    "févr": 2,
    "fevr": 2,
    "juil": 7,
    "déc": 12,
    "jänner": 1,
    "maerz": 3,
    "mrz": 3,
    "setiembre": 9,
    "mrt": 3,
    "agt": 8,
    "marco": 3,
}
THAI_MONTHS: tuple[tuple[str, str], ...] = (
    ("มกราคม", "ม.ค."),
    ("กุมภาพันธ์", "ก.พ."),
    ("มีนาคม", "มี.ค."),
    ("เมษายน", "เม.ย."),
    ("พฤษภาคม", "พ.ค."),
    ("มิถุนายน", "มิ.ย."),
    ("กรกฎาคม", "ก.ค."),
    ("สิงหาคม", "ส.ค."),
    ("กันยายน", "ก.ย."),
    ("ตุลาคม", "ต.ค."),
    ("พฤศจิกายน", "พ.ย."),
    ("ธันวาคม", "ธ.ค."),
)


def _month_table() -> dict[str, int]:
    table: dict[str, int] = {}
    for names in _MONTH_NAMES_BY_LANGUAGE.values():
        for number, name in enumerate(names.split(), start=1):
            table.setdefault(name, number)
            table.setdefault(name[:3], number)
            table.setdefault(name[:4], number)
    for name, number in _EXTRA_MONTH_NAMES.items():
        table.setdefault(name, number)
    # "mar" is March in every language listed; "mai" May; no three-letter prefix clashes.
    for number, (full, short) in enumerate(THAI_MONTHS, start=1):
        table[full] = number
        table[short] = number
        table[short.replace(".", "")] = number
        table[short.rstrip(".")] = number
    return table


MONTHS = _month_table()
_THAI_MONTH_NAMES = (
    frozenset(name for pair in THAI_MONTHS for name in pair)
    | frozenset(short.replace(".", "") for _, short in THAI_MONTHS)
    | frozenset(short.rstrip(".") for _, short in THAI_MONTHS)
)

_MONTH_ALTERNATION = "|".join(re.escape(name) for name in sorted(MONTHS, key=len, reverse=True))
# A month name must not run on into a longer word ("mayor", "marketing").
_MONTH = rf"(?P<month>{_MONTH_ALTERNATION})(?![a-zà-ÿ])\.?"
_DAY = r"(?P<day>\d{1,2})(?!\d)(?:st|nd|rd|th|er|e|º|°)?\.?"
_YEAR = r"(?P<year>\d{4}|\d{2}(?!\d))"
_SEP = r"[\s,/\-]*"
# Connecting words: "14 de septiembre de 2023", "le 14 mars", "พ.ศ. 2566".
_FILLER = r"(?:\s*(?:de|del|of|di|van|พ\.ศ\.|พ\.ศ|ค\.ศ\.)\s*)?"

DAY_MONTH_YEAR = re.compile(rf"(?<!\d){_DAY}{_SEP}{_FILLER}{_MONTH}{_SEP}{_FILLER}{_YEAR}", re.I)
MONTH_DAY_YEAR = re.compile(rf"{_MONTH}{_SEP}{_DAY}[\s,/\-]+{_YEAR}", re.I)
YEAR_MONTH_DAY_NAMED = re.compile(
    rf"(?<!\d)(?P<year>\d{{4}}){_SEP}{_MONTH}{_SEP}(?P<day>\d{{1,2}})(?!\d)", re.I
)
CJK_DATE = re.compile(r"(?P<year>\d{4})\s*[年년]\s*(?P<month>\d{1,2})\s*[月월]\s*(?P<day>\d{1,2})")
ISO_DATE = re.compile(
    r"(?<!\d)(?P<year>\d{4})-?(?P<month>[01]\d)-?(?P<day>[0-3]\d)(?!\d)"
    r"(?:[T\s]+(?P<hour>[0-2]\d):?(?P<minute>[0-5]\d)(?::?(?P<second>[0-5]\d)(?:[.,]\d+)?)?)?"
    r"\s*(?P<zone>Z|UTC|GMT|[+-][01]\d(?::?[0-5]\d)?)?(?![\w:])",
)
YEAR_FIRST_NUMERIC = re.compile(
    r"(?<![\d.])(?P<year>\d{4})[/.](?P<month>\d{1,2})[/.](?P<day>\d{1,2})(?![\d])"
)
NUMERIC_DATE = re.compile(
    r"(?<![\d.:/])(?P<first>\d{1,2})(?P<sep>[/.\-])(?P<second>\d{1,2})(?P=sep)"
    r"(?P<year>\d{4}|\d{2})(?![\d])"
)
TIME_OF_DAY = re.compile(
    r"(?<!\d)(?P<hour>[0-2]?\d)(?:[:.h](?P<minute>[0-5]\d))(?::(?P<second>[0-5]\d))?"
    r"(?:\s*(?P<ampm>[ap]\.?\s?m\.?)(?![a-z]))?"
    r"|(?<!\d)(?P<hour12>1[0-2]|0?\d)\s*(?P<ampm12>[ap]\.?m\.?)(?![a-z])",
    re.I,
)
ZONE = re.compile(
    r"(?<![\w+-])(?:(?P<name>Z|UTC|GMT|[A-Z]{2,5}T)(?![a-z])\s*)?"
    r"(?P<offset>[+-]\s?\d{1,2}(?::?\d{2})?)?(?![\d:])"
)
ZONE_ABBREVIATIONS: dict[str, float] = {
    "Z": 0,
    "UTC": 0,
    "GMT": 0,
    "UT": 0,
    "WET": 0,
    "BST": 1,
    "CET": 1,
    "CEST": 2,
    "EET": 2,
    "EEST": 3,
    "MSK": 3,
    "IST": 5.5,
    "ICT": 7,
    "WIB": 7,
    "SGT": 8,
    "HKT": 8,
    "AWST": 8,
    "PHT": 8,
    "JST": 9,
    "KST": 9,
    "AEST": 10,
    "AEDT": 11,
    "NZST": 12,
    "NZDT": 13,
    "EST": -5,
    "EDT": -4,
    "CST": -6,
    "CDT": -5,
    "MST": -7,
    "MDT": -6,
    "PST": -8,
    "PDT": -7,
    "AKST": -9,
    "AKDT": -8,
    "HST": -10,
}
# "© 2023", "Copyright © 2019–2023", "(c) 2019 - 2023": the year is the site's, not the page's.
COPYRIGHT = re.compile(
    r"(?:©|&copy;|\(c\)|copyright)(?:\s*(?:©|&copy;|\(c\)))?\s*(?:\d{4}\s*[-–—]\s*)?\d{4}",
    re.I,
)
UNIX_TIMESTAMP = re.compile(r"^\s*(?P<seconds>1\d{9})(?P<millis>\d{3})?\s*$")

_RELATIVE_UNITS: dict[str, timedelta] = {
    "second": timedelta(seconds=1),
    "sec": timedelta(seconds=1),
    "minute": timedelta(minutes=1),
    "min": timedelta(minutes=1),
    "hour": timedelta(hours=1),
    "hr": timedelta(hours=1),
    "day": timedelta(days=1),
    "week": timedelta(weeks=1),
    "month": timedelta(days=30),
    "year": timedelta(days=365),
    "วินาที": timedelta(seconds=1),
    "นาที": timedelta(minutes=1),
    "ชั่วโมง": timedelta(hours=1),
    "ชม.": timedelta(hours=1),
    "วัน": timedelta(days=1),
    "สัปดาห์": timedelta(weeks=1),
    "อาทิตย์": timedelta(weeks=1),
    "เดือน": timedelta(days=30),
    "ปี": timedelta(days=365),
}
RELATIVE_AGO = re.compile(
    r"(?P<count>\d+|an?|one)\s*(?P<unit>second|sec|minute|min|hour|hr|day|week|month|year)s?"
    r"\.?\s+ago",
    re.I,
)
RELATIVE_AGO_THAI = re.compile(
    r"(?P<count>\d+)\s*(?P<unit>วินาที|นาที|ชั่วโมง|ชม\.|วัน|สัปดาห์|อาทิตย์|เดือน|ปี)\s*(?:ที่)?(?:แล้ว|ก่อน)"
)
RELATIVE_DAYS: dict[str, int] = {
    "today": 0,
    "just now": 0,
    "yesterday": 1,
    "วันนี้": 0,
    "เมื่อวานนี้": 1,
    "เมื่อวาน": 1,
    "เมื่อวานซืน": 2,
    "hier": 1,
    "gestern": 1,
    "ayer": 1,
    "ontem": 1,
    "ieri": 1,
    "gisteren": 1,
    "kemarin": 1,
    "heute": 0,
    "hoy": 0,
    "hoje": 0,
    "oggi": 0,
    "vandaag": 0,
    "hari ini": 0,
    "aujourd'hui": 0,
}
RELATIVE_DAY_WORDS = re.compile(
    "|".join(
        rf"(?<![\w']){re.escape(word)}(?![\w'])"
        for word in sorted(RELATIVE_DAYS, key=len, reverse=True)
    ),
    re.I,
)


def parse_date(
    text: str,
    *,
    tz: tzinfo = UTC,
    now: datetime | None = None,
    dayfirst: bool = True,
) -> datetime | None:
    """The date and time in ``text``, timezone-aware, or None if it holds no complete date.

    ``tz`` is the zone for dates printed without one; ``now`` anchors relative dates and the
    future check (default: the current time); ``dayfirst`` decides "03/04/2023" (3 April).
    """
    if not text:
        return None
    now = now or datetime.now(UTC)
    if now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    cleaned = " ".join(COPYRIGHT.sub(" ", text[:300]).split())
    if not cleaned:
        return None
    for parser in (_parse_iso, _parse_rfc2822, _parse_timestamp):
        result = parser(cleaned, tz)
        if result is not None:
            return _plausible(result, now)
    result = _parse_named_month(cleaned, tz) or _parse_numeric(cleaned, tz, dayfirst)
    if result is None:
        result = _parse_relative(cleaned, now)
    return _plausible(result, now) if result is not None else None


def _plausible(value: datetime, now: datetime) -> datetime | None:
    """``value``, or None when it is before the web or after ``now`` by more than the skew.

    A value within the skew is a clock or zone error (a local time labelled UTC, a date-only
    value read at midnight in the wrong zone): a page cannot have been published after it was
    read, so it is returned as ``now`` and never as a future date.
    """
    if value.year < EARLIEST_YEAR or value > now + FUTURE_SKEW:
        return None
    return min(value, now)


def _gregorian_year(year: int, *, buddhist_context: bool = False) -> int:
    if year < 100:
        if buddhist_context:  # "14 ก.ย. 66" means BE 2566
            return 2500 + year - BUDDHIST_ERA_OFFSET
        return 2000 + year if year < 70 else 1900 + year
    if year > BUDDHIST_ERA_MIN_YEAR:
        return year - BUDDHIST_ERA_OFFSET
    return year


def _build(
    year: int, month: int, day: int, rest: str, tz: tzinfo, *, buddhist: bool = False
) -> datetime | None:
    """A datetime from date parts plus the time and zone found in ``rest`` (text after it)."""
    year = _gregorian_year(year, buddhist_context=buddhist)
    try:
        value = datetime(year, month, day)
    except ValueError:
        return None
    hour, minute, second = _time_of_day(rest)
    value = value.replace(hour=hour, minute=minute, second=second)
    zone = _zone(rest) if (hour or minute) else None
    return value.replace(tzinfo=zone or tz)


def _time_of_day(text: str) -> tuple[int, int, int]:
    match = TIME_OF_DAY.search(text[:40])
    if match is None:
        return 0, 0, 0
    if match["hour12"]:
        hour, minute, second, ampm = int(match["hour12"]), 0, 0, match["ampm12"]
    else:
        hour, minute = int(match["hour"]), int(match["minute"])
        second, ampm = int(match["second"] or 0), match["ampm"]
    if ampm:
        is_pm = ampm.lower().startswith("p")
        hour = hour % 12 + (12 if is_pm else 0)
    if hour > 23:
        return 0, 0, 0
    return hour, minute, second


def _zone(text: str) -> tzinfo | None:
    for match in ZONE.finditer(text[:60]):
        name, offset = match["name"], match["offset"]
        if not name and not offset:
            continue
        hours = ZONE_ABBREVIATIONS.get(name.upper(), 0.0) if name else 0.0
        if name and name.upper() not in ZONE_ABBREVIATIONS:
            continue
        if offset:
            hours += _offset_hours(offset)
        return timezone(timedelta(hours=hours))
    return None


def _offset_hours(offset: str) -> float:
    sign = -1 if offset.startswith("-") else 1
    digits = offset[1:].replace(":", "").strip()
    if len(digits) <= 2:
        return sign * int(digits)
    return sign * (int(digits[:-2]) + int(digits[-2:]) / 60)


def _parse_iso(text: str, tz: tzinfo) -> datetime | None:
    match = ISO_DATE.search(text)
    if match is None:
        return None
    try:
        value = datetime(int(match["year"]), int(match["month"]), int(match["day"]))
    except ValueError:
        return None
    if match["hour"]:
        hour = int(match["hour"])
        if hour > 23:
            return None
        value = value.replace(
            hour=hour, minute=int(match["minute"]), second=int(match["second"] or 0)
        )
    zone: tzinfo = tz
    if match["zone"] and match["hour"]:
        label = match["zone"]
        zone = (
            UTC if label in ("Z", "UTC", "GMT") else timezone(timedelta(hours=_offset_hours(label)))
        )
    return value.replace(tzinfo=zone)


def _parse_rfc2822(text: str, tz: tzinfo) -> datetime | None:
    if not re.match(r"^(?:[A-Za-z]{3},\s*)?\d{1,2}\s+[A-Za-z]{3}\s+\d{4}\s+\d", text):
        return None
    try:
        value = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    return value if value.tzinfo is not None else value.replace(tzinfo=tz)


def _parse_timestamp(text: str, tz: tzinfo) -> datetime | None:
    match = UNIX_TIMESTAMP.match(text)
    if match is None:
        return None
    return datetime.fromtimestamp(int(match["seconds"]), UTC)


def _parse_named_month(text: str, tz: tzinfo) -> datetime | None:
    best: tuple[int, datetime] | None = None
    for pattern in (DAY_MONTH_YEAR, MONTH_DAY_YEAR, YEAR_MONTH_DAY_NAMED):
        match = pattern.search(text)
        if match is None:
            continue
        month_name = match["month"].lower()
        month = MONTHS.get(month_name) or MONTHS.get(month_name.rstrip("."))
        if month is None:
            continue
        buddhist = month_name in _THAI_MONTH_NAMES or month_name.rstrip(".") in _THAI_MONTH_NAMES
        value = _build(
            int(match["year"]), month, int(match["day"]), text[match.end() :], tz, buddhist=buddhist
        )
        # When several patterns match, the earliest in the text is the dateline.
        if value is not None and (best is None or match.start() < best[0]):
            best = (match.start(), value)
    if best is not None:
        return best[1]
    match = CJK_DATE.search(text)
    if match is not None:
        return _build(
            int(match["year"]), int(match["month"]), int(match["day"]), text[match.end() :], tz
        )
    return None


def _parse_numeric(text: str, tz: tzinfo, dayfirst: bool) -> datetime | None:
    match = YEAR_FIRST_NUMERIC.search(text)
    if match is not None:
        return _build(
            int(match["year"]), int(match["month"]), int(match["day"]), text[match.end() :], tz
        )
    match = NUMERIC_DATE.search(text)
    if match is None:
        return None
    first, second = int(match["first"]), int(match["second"])
    if first > 12 or (dayfirst and second <= 12):
        day, month = first, second
    else:
        month, day = first, second
    if month > 12:
        day, month = month, day
    year_text = match["year"]
    if len(year_text) == 2 and match["sep"] == ".":
        # "14.09.23" could be a version number; require a four-digit year with dots.
        return None
    return _build(int(year_text), month, day, text[match.end() :], tz)


def _parse_relative(text: str, now: datetime) -> datetime | None:
    match = RELATIVE_AGO.search(text)
    if match is not None:
        count_text = match["count"].lower()
        count = int(count_text) if count_text.isdigit() else 1
        return now - count * _RELATIVE_UNITS[match["unit"].lower()]
    match = RELATIVE_AGO_THAI.search(text)
    if match is not None:
        return now - int(match["count"]) * _RELATIVE_UNITS[match["unit"]]
    match = RELATIVE_DAY_WORDS.search(text)
    if match is not None:
        return now - timedelta(days=RELATIVE_DAYS[match[0].lower()])
    return None


def date_from_url(url: str, *, tz: tzinfo = UTC, now: datetime | None = None) -> datetime | None:
    """A date spelled in a URL path (/2023/09/14/, /20230914/, /2023-09-14-slug), else None."""
    match = re.search(
        r"/((?:19|20)\d{2})[/-]?(0[1-9]|1[0-2])[/-]?([0-2]\d|3[01])(?=[/\-_.]|$)", url
    )
    if match is None:
        match = re.search(r"/((?:19|20)\d{2})/(\d{1,2})/(\d{1,2})/", url)
    if match is None:
        return None
    try:
        value = datetime(int(match[1]), int(match[2]), int(match[3]), tzinfo=tz)
    except ValueError:
        return None
    return _plausible(value, now or datetime.now(UTC))
