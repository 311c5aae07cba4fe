"""Per-sender hourly limits count by each mail's own time (issue 14, item 5)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from jicket_ops.domain.answer_policy import RateLimit, over_hourly_limit, received_at
from jicket_ops.domain.parsing import MailHeaders
from jicket_ops.domain.settings import environment_lookup, load_settings
from tests.support import TEMPLATE

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def test_defaults_import_every_mail_and_limit_only_the_answers():
    assert RateLimit() == RateLimit(new_per_hour=0, confirmations_per_hour=20)
    env = {"JICKET_JIRA_PROJECT": "HD", "JICKET_TICKET_ADDRESS": "support@company.com"}
    settings = load_settings(environment_lookup(env), TEMPLATE)
    assert (settings.limit_new_per_hour, settings.limit_confirmations_per_hour) == (0, 20)
    changed = load_settings(environment_lookup({**env, "JICKET_LIMIT_NEW_PER_HOUR": "5",
                                                "JICKET_LIMIT_CONFIRMATIONS_PER_HOUR": "0"}), TEMPLATE)
    assert (changed.limit_new_per_hour, changed.limit_confirmations_per_hour) == (5, 0)


def test_a_backlog_spread_over_days_is_not_one_burst():
    # 60 mails, one every 2 hours: never more than 1 per hour, so a limit of 2 lets all through.
    times = [NOW - timedelta(hours=2 * n) for n in range(60)]
    assert over_hourly_limit(times, 2) == []


def test_a_burst_is_limited_within_its_hour_and_the_next_hour_starts_afresh():
    burst = [NOW + timedelta(minutes=m) for m in range(10)]  # 10 mails in 10 minutes
    later = [NOW + timedelta(hours=2, minutes=m) for m in range(3)]
    times = later + burst  # any order: the oldest count first
    assert over_hourly_limit(times, 3) == [3 + n for n in range(3, 10)]
    assert over_hourly_limit(burst, 0) == []  # 0 = unlimited


def test_earlier_events_count_only_inside_the_window():
    earlier = [NOW - timedelta(minutes=30)] * 2
    assert over_hourly_limit([NOW, NOW], 3, earlier) == [1]
    assert over_hourly_limit([NOW + timedelta(hours=1)], 1, earlier) == []


def test_receive_time_from_the_date_header_capped_at_now():
    assert received_at(MailHeaders(date="Mon, 30 Nov 2026 08:00:00 +0100"), NOW) == datetime(2026, 11, 30, 7,
                                                                                            tzinfo=UTC)
    assert received_at(MailHeaders(date="Fri, 1 Jan 2100 00:00:00 +0000"), NOW) == NOW
    assert received_at(MailHeaders(date="not a date"), NOW) == NOW
    assert received_at(MailHeaders(), NOW) == NOW
