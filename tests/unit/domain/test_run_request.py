from datetime import UTC, datetime

import pytest

from jicket_ops.domain.run_request import RunRequest, run_request
from jicket_ops.errors import ConfigError

NO_INTERVAL = (None, None)


def request(params=None, run_type="scheduled", interval=NO_INTERVAL):
    return run_request(params or {}, run_type=run_type, interval=interval, inbox="INBOX")


def test_scheduled_run_imports_the_inbox():
    req = request()
    assert req == RunRequest()
    assert req.folder_for("INBOX", "jicket") == "INBOX" and req.imap_criteria() == []


def test_backfill_rescans_the_success_folder_over_its_interval():
    start, end = datetime(2026, 11, 2, tzinfo=UTC), datetime(2026, 11, 3, tzinfo=UTC)
    req = request(run_type="backfill", interval=(start, end))
    assert req.rescan and req.folder_for("INBOX", "jicket") == "jicket"
    assert req.imap_criteria() == ["SINCE", "2-Nov-2026", "BEFORE", "3-Nov-2026"]
    assert req.wants(datetime(2026, 11, 2, 23, 59, tzinfo=UTC))
    assert not req.wants(datetime(2026, 11, 3, tzinfo=UTC))
    assert not req.wants(datetime(2026, 11, 1, 23, 59, tzinfo=UTC))


def test_sub_day_intervals_widen_the_imap_search_and_filter_exactly():
    start, end = datetime(2026, 11, 2, 10, tzinfo=UTC), datetime(2026, 11, 2, 10, 1, tzinfo=UTC)
    req = request(run_type="backfill", interval=(start, end))
    assert req.imap_criteria() == ["SINCE", "2-Nov-2026", "BEFORE", "3-Nov-2026"]
    assert req.wants(datetime(2026, 11, 2, 10, 0, 30, tzinfo=UTC))
    assert not req.wants(datetime(2026, 11, 2, 10, 2, tzinfo=UTC))


def test_archive_folder_implies_rescan_and_dates_are_parsed():
    req = request({"folder": "Archive", "since": "2026-11-01", "before": "2026-11-02T12:00:00+01:00",
                   "dry_run": True, "max_mails": 5})
    assert req.rescan and req.folder == "Archive" and req.dry_run and req.max_mails == 5
    assert req.received_from == datetime(2026, 11, 1, tzinfo=UTC)
    assert req.received_before == datetime(2026, 11, 2, 11, tzinfo=UTC)
    assert RunRequest.from_dict(req.as_dict()) == req


@pytest.mark.parametrize(("params", "name"), [
    ({"mode": "explode"}, "param mode"),
    ({"since": "yesterday"}, "param since"),
    ({"since": "2026-11-02", "before": "2026-11-01"}, "param before"),
    ({"max_mails": 0}, "param max_mails"),
    ({"max_mails": "many"}, "param max_mails"),
    ({"dry_run": "yes"}, "param dry_run"),
])
def test_bad_params_name_themselves(params, name):
    with pytest.raises(ConfigError) as info:
        request(params)
    assert info.value.setting == name
