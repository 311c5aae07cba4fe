"""Fixtures of the Ansible deployment tests; the helpers are in helpers.py."""

from __future__ import annotations

import shutil

import pytest

from tests.ansible.helpers import Scratch, remove_service_user, requirements_missing


@pytest.fixture(scope="session")
def scratch(request):
    missing = requirements_missing()
    if missing:
        pytest.skip(missing)
    area = Scratch()
    yield area
    remove_service_user()
    if area.keep or request.session.testsfailed:
        print(f"\nAnsible test files kept in {area.root}")
    else:
        shutil.rmtree(area.root, ignore_errors=True)
