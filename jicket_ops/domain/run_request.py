"""What one run is asked to do: the trigger form's Params, a backfill interval, or the schedule (pure).

- A scheduled run (mode ``inbox``) imports the waiting mails of JICKET_FOLDER_INBOX, confirms and moves them.
- A backfill run, or a manual run with mode ``rescan`` or a ``folder`` other than the inbox, re-scans a
  folder (the success folder by default, or an archive) for mails received in the interval and imports
  only what Jira lacks, found by the marker every Jicket write carries. It never confirms or moves.
- ``dry_run`` decides and logs everything but writes nothing anywhere (no keyword, Jira write, mail, move).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, timedelta

from jicket_ops.errors import ConfigError

MODES = ("inbox", "rescan")


@dataclass(frozen=True)
class RunRequest:
    mode: str = "inbox"
    folder: str | None = None  # None: the mode's default folder
    received_from: datetime | None = None  # inclusive, UTC
    received_before: datetime | None = None  # exclusive, UTC
    dry_run: bool = False
    max_mails: int | None = None

    @property
    def rescan(self) -> bool:
        return self.mode == "rescan"

    def folder_for(self, inbox: str, success: str) -> str:
        return self.folder or (success if self.rescan else inbox)

    def imap_criteria(self) -> list[str]:
        """IMAP SEARCH keys for the interval; SINCE/BEFORE are whole days (RFC 3501), refined by ``wants``."""
        criteria: list[str] = []
        if self.received_from is not None:
            criteria += ["SINCE", _imap_date(self.received_from.date())]
        if self.received_before is not None:
            criteria += ["BEFORE", _imap_date((self.received_before - timedelta(microseconds=1)).date()
                                              + timedelta(days=1))]
        return criteria

    def wants(self, received: datetime | None) -> bool:
        """Whether a mail received at ``received`` (its INTERNALDATE) lies in the interval."""
        if received is None:
            return self.received_from is None and self.received_before is None
        if self.received_from is not None and received < self.received_from:
            return False
        return not (self.received_before is not None and received >= self.received_before)

    def describe_interval(self) -> str:
        """The received-time range in words, for the run's log line."""
        if self.received_from is None and self.received_before is None:
            return "any time"
        start = self.received_from.isoformat() if self.received_from else "the beginning"
        end = self.received_before.isoformat() if self.received_before else "now"
        return f"received from {start} to {end}"

    def as_dict(self) -> dict:
        data = asdict(self)
        for key in ("received_from", "received_before"):
            data[key] = data[key].isoformat() if data[key] else None
        return data

    @classmethod
    def from_dict(cls, data: dict) -> RunRequest:
        values = dict(data)
        for key in ("received_from", "received_before"):
            values[key] = datetime.fromisoformat(values[key]) if values.get(key) else None
        return cls(**values)


def _imap_date(day: date) -> str:
    months = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
    return f"{day.day}-{months[day.month - 1]}-{day.year}"


def _moment(value: object, param: str) -> datetime | None:
    """A date means its midnight UTC: ``before 2024-05-02`` ends as that day begins."""
    if value in (None, ""):
        return None
    if isinstance(value, datetime):
        moment = value
    else:
        text = str(value).strip()
        try:
            moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            raise ConfigError(f"param {param}", f"must be a date (YYYY-MM-DD) or date-time, got {text!r}") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def run_request(params: dict, *, run_type: str, interval: tuple[datetime | None, datetime | None],
                inbox: str) -> RunRequest:
    """The request of a run from its Params, run type and data interval; bad Params name themselves."""
    mode = str(params.get("mode") or "inbox").lower()
    if mode not in MODES:
        raise ConfigError("param mode", f"must be one of {', '.join(MODES)}, got {mode!r}")
    folder = (params.get("folder") or "").strip() or None
    since = _moment(params.get("since"), "since")
    before = _moment(params.get("before"), "before")
    if run_type == "backfill":
        mode = "rescan"
        since = since or interval[0]
        before = before or interval[1]
    if folder is not None and folder != inbox:
        mode = "rescan"  # importing from an archive: check Jira for each mail, never confirm or move
    if since and before and since >= before:
        raise ConfigError("param before", f"must be later than since ({since.isoformat()})")
    max_mails = params.get("max_mails")
    if max_mails in ("", None):
        max_mails = None
    else:
        try:
            max_mails = int(max_mails)
        except (TypeError, ValueError):
            raise ConfigError("param max_mails", f"must be a whole number, got {max_mails!r}") from None
        if max_mails < 1:
            raise ConfigError("param max_mails", f"must be at least 1, got {max_mails}")
    dry_run = params.get("dry_run", False)
    if not isinstance(dry_run, bool):
        raise ConfigError("param dry_run", f"must be true or false, got {dry_run!r}")
    return RunRequest(mode=mode, folder=folder, received_from=since, received_before=before, dry_run=dry_run,
                      max_mails=max_mails)
