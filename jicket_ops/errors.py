"""One exception type per failure an operator can act on; each message names the setting or mail."""

from __future__ import annotations


class JicketError(Exception):
    """Base of every error Jicket raises on purpose."""


class ConfigError(JicketError):
    """A setting is missing or invalid. Names the JICKET_* setting (or connection id) and what is expected."""

    def __init__(self, setting: str, problem: str) -> None:
        self.setting = setting
        self.problem = problem
        super().__init__(f"{setting}: {problem}")


class FilterConfigError(ConfigError):
    """The filter JSON (JICKET_FILTER_CONFIG) cannot be read or has an invalid rule."""


class TemplateError(ConfigError):
    """The thread template (JICKET_THREAD_TEMPLATE) cannot be read or rendered."""


class FolderMissingError(ConfigError):
    """An IMAP folder named in the settings does not exist on the server."""

    def __init__(self, setting: str, folder: str) -> None:
        self.folder = folder
        super().__init__(setting, f"IMAP folder {folder!r} does not exist; create it or change the setting")


class MailboxError(JicketError):
    """The IMAP server refused a command (names the command and the server's answer)."""


class MailboxCapabilityError(MailboxError):
    """The IMAP server lacks something Jicket relies on (keywords, UID MOVE/UIDPLUS)."""


class JiraError(JicketError):
    """Jira refused or failed a request (names the request and Jira's answer)."""

    def __init__(self, message: str, *, status: int | None = None, transient: bool = False) -> None:
        self.status = status
        self.transient = transient
        super().__init__(message)


class TicketIdCollisionError(JiraError):
    """A ticket id Jicket derived is already used by an issue created for another mail."""


class MailDeliveryError(JicketError):
    """The SMTP server refused a confirmation mail (names the ticket and recipients)."""


class MailProcessingError(JicketError):
    """Some mails of a batch failed; the others were processed. Lists every failed mail."""

    def __init__(self, stage: str, failures: dict[int, str], partial: dict | None = None) -> None:
        self.stage = stage
        self.failures = failures  # uid -> why
        self.partial = partial  # what the stage did with the other mails (its XCom value, had it succeeded)
        lines = "; ".join(f"uid={uid}: {why}" for uid, why in sorted(failures.items()))
        super().__init__(f"{stage}: {len(failures)} mail(s) failed and stay in the inbox for the next run: {lines}")


class TlsModeError(ConfigError):
    """The server speaks the other TLS mode than the one configured (implicit TLS vs. plaintext/STARTTLS).

    Names the setting to change (``JICKET_IMAP_TLS`` / ``JICKET_SMTP_TLS`` and the connection extra) and the fix.
    """


class OAuthError(ConfigError):
    """An OAuth 2.0 access token could not be obtained, or the mail server refused it.

    Names the connection id and the token endpoint's (or mail server's) answer; retrying cannot help.
    """


class OAuthUnavailableError(JicketError):
    """The token endpoint could not be reached or failed (network, HTTP 5xx): worth a retry."""


class HeaderInjectionError(JicketError):
    """A header Jicket writes would carry a line break or NUL from a mail; the mail is not sent (names it)."""
