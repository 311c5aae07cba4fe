"""A task's settings lookup asks Airflow only for Variables that can exist (runtime.variable_lookup)."""

from __future__ import annotations

from jicket_ops.orchestration.runtime import variable_lookup


class FakeVariables:
    """Airflow's Variables as a task sees them: the metadata DB's, and the environment's AIRFLOW_VAR_*."""

    def __init__(self, stored: dict[str, str], environ: dict[str, str], listable: bool = True) -> None:
        self.stored, self.environ, self.listable = stored, environ, listable
        self.asked: list[str] = []
        self.listed = 0

    def get(self, name: str) -> str | None:  # Variable.get (runtime.airflow_variable)
        self.asked.append(name)
        return self.environ.get(f"AIRFLOW_VAR_{name.upper()}", self.stored.get(name))

    def names(self) -> frozenset[str] | None:
        self.listed += 1
        return frozenset(self.stored) if self.listable else None


def test_only_stored_variables_are_asked_for() -> None:
    airflow = FakeVariables({"JICKET_JIRA_PROJECT": "SHD"}, {"JICKET_FOLDER_INBOX": "Support"})
    lookup = variable_lookup(airflow.get, airflow.names, airflow.environ)

    assert lookup("JICKET_JIRA_PROJECT") == "SHD"
    assert lookup("JICKET_FOLDER_INBOX") == "Support"  # the environment, without asking Airflow
    assert lookup("JICKET_ID_SALT") is None
    assert airflow.asked == ["JICKET_JIRA_PROJECT"]
    assert airflow.listed == 1  # one listing for the whole task


def test_a_variable_overrides_the_environment_variable() -> None:
    airflow = FakeVariables({"JICKET_FOLDER_INBOX": "Helpdesk"}, {"JICKET_FOLDER_INBOX": "INBOX"})
    assert variable_lookup(airflow.get, airflow.names, airflow.environ)("JICKET_FOLDER_INBOX") == "Helpdesk"


def test_a_variable_from_the_environment_is_read() -> None:
    airflow = FakeVariables({}, {"AIRFLOW_VAR_JICKET_ID_SALT": "pepper", "JICKET_ID_SALT": "salt"})
    assert variable_lookup(airflow.get, airflow.names, airflow.environ)("JICKET_ID_SALT") == "pepper"


def test_every_name_is_asked_for_when_the_list_is_unknown() -> None:
    # A secrets backend (Vault, ...) may hold any name; Variable.keys lists the metadata DB only.
    airflow = FakeVariables({"JICKET_JIRA_PROJECT": "SHD"}, {}, listable=False)
    lookup = variable_lookup(airflow.get, airflow.names, airflow.environ)
    assert [lookup("JICKET_JIRA_PROJECT"), lookup("JICKET_ID_SALT")] == ["SHD", None]
    assert airflow.asked == ["JICKET_JIRA_PROJECT", "JICKET_ID_SALT"]


def test_nothing_is_listed_before_a_name_is_looked_up() -> None:
    airflow = FakeVariables({}, {})
    variable_lookup(airflow.get, airflow.names, airflow.environ)
    assert airflow.listed == 0
