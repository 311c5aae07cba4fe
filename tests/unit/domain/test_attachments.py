"""domain.attachments: Jira-safe, issue-unique file names; sizes as settings write them and notes show them."""

import pytest

from jicket_ops.domain.attachments import format_size, is_variant_of, parse_size, safe_filename, unique_names


def test_attachment_names_are_safe_and_unique():
    assert safe_filename("C:\\temp\\a|b?.txt", "text/plain", 1) == "C__temp_a_b_.txt"
    assert safe_filename("[x] {y}!.pdf", "application/pdf", 1) == "(x) (y)_.pdf"
    assert safe_filename("", "image/png", 3) == "attachment-3.png"
    assert safe_filename("a" * 300 + ".pdf", "application/pdf", 1).endswith("a.pdf")
    assert unique_names(["a.pdf", "A.pdf", "b"], taken=["a.pdf"]) == ["a (2).pdf", "A (3).pdf", "b"]
    assert is_variant_of("a (2).pdf", "a.pdf") and not is_variant_of("ab.pdf", "a.pdf")
    assert parse_size("10M") == 10 * 1024 * 1024 and parse_size("512k") == 524288 and parse_size("7") == 7
    with pytest.raises(ValueError):
        parse_size("ten")
    assert format_size(300 * 1024) == "300.0 KB"
