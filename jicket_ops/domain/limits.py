"""Jira's text limits and what Jicket keeps within them, in one place (pure constants)."""

JIRA_TEXT_FIELD = 32_767  # characters of one text field (description, comment body) in Jira
SUMMARY_LIMIT = 255  # characters of an issue's summary
TEXT_LIMIT = 32_000  # a whole description or comment Jicket writes (envelope, text, attachment list, notes, marker)
BODY_LIMIT = 28_000  # the mail's own text within it; longer text is cut and the whole mail attached
ENVELOPE_NAME_LIMIT = 300  # characters of the sender's name shown (the rest is in the attached original)
ENVELOPE_CC_LIMIT = 50  # Cc addresses listed, at most
