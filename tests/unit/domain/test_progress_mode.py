"""Which progress mode a run uses: JICKET_IMAP_PROGRESS, else what the folder's PERMANENTFLAGS allow."""

from __future__ import annotations

import pytest

from jicket_ops.domain.progress_mode import ProgressMode, choose_mode
from jicket_ops.errors import ConfigError


@pytest.mark.parametrize(("setting", "allowed", "mode"), [
    ("auto", True, ProgressMode.KEYWORDS),
    ("auto", False, ProgressMode.FOLDERS),
    ("auto", None, ProgressMode.KEYWORDS),  # read-only select (dry run): nothing is stored either way
    ("folders", True, ProgressMode.FOLDERS),
    ("folders", False, ProgressMode.FOLDERS),
    ("keywords", True, ProgressMode.KEYWORDS),
    ("keywords", None, ProgressMode.KEYWORDS),
])
def test_mode_follows_the_setting_then_the_server(setting, allowed, mode):
    assert choose_mode(setting, allowed) is mode


def test_forcing_keywords_on_a_server_without_them_names_the_setting():
    with pytest.raises(ConfigError, match="JICKET_IMAP_PROGRESS.*PERMANENTFLAGS"):
        choose_mode("keywords", False)
