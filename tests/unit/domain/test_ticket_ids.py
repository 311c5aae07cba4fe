import pytest

from jicket_ops.domain.ticket_ids import TicketIdScheme


def test_legacy_ids_decode_to_the_uid_and_keep_threading():
    ids = TicketIdScheme()
    legacy = ids.legacy_id(539)
    assert legacy == "ZOZ2P6"  # the example id of the 0.6.2 manual
    assert ids.decode(legacy) == (539,)
    assert ids.find_in_subject(f"RE: RE: [#JI-{legacy}] Feature XY broken") == legacy


def test_new_ids_differ_when_uidvalidity_changes():
    ids = TicketIdScheme()
    first = ids.new_id(1700000000, 5)
    second = ids.new_id(1700000001, 5)
    assert first != second
    assert ids.decode(first) == (1700000000, 5)
    assert first != ids.legacy_id(5)


def test_custom_prefix_salt_alphabet_and_min_length():
    ids = TicketIdScheme(prefix="EC-", salt="VerySecretSalt", alphabet="abcdefghijklmnopqrstuvwxyz", min_length=10)
    ticket = ids.new_id(7, 9)
    assert len(ticket) >= 10 and set(ticket) <= set("abcdefghijklmnopqrstuvwxyz")
    assert ids.tag(ticket) == f"[#EC-{ticket}]"
    assert ids.find_in_subject(f"Re: {ids.tag(ticket)} x") == ticket
    assert ids.find_in_subject(f"Re: [#JI-{ticket}] x") is None
    assert TicketIdScheme().decode(ticket) == ()


def test_subject_without_id_or_with_malformed_tag():
    ids = TicketIdScheme()
    assert ids.find_in_subject("Printer broken") is None
    assert ids.find_in_subject("[#JI-AB] too short") is None
    assert ids.find_in_subject("[#JI-ZOZ2P6 missing bracket") is None
    assert ids.find_in_subject("") is None


def test_header_id_accepts_bare_and_prefixed_and_rejects_garbage():
    ids = TicketIdScheme()
    assert ids.from_header(" ZOZ2P6 ") == "ZOZ2P6"
    assert ids.from_header("JI-ZOZ2P6") == "ZOZ2P6"
    assert ids.from_header("ZOZ\"2P6) OR 1=1") is None
    assert ids.from_header(None) is None


def test_strip_tag_keeps_the_rest_of_the_subject():
    ids = TicketIdScheme()
    assert ids.strip_tag("RE: [#JI-ZOZ2P6] Feature XY broken") == "RE: Feature XY broken"


@pytest.mark.parametrize(("scheme", "setting"), [
    (TicketIdScheme(alphabet="ABC"), "JICKET_ID_ALPHABET"),
    (TicketIdScheme(alphabet="ABCDEFGHIJKLMNOP]"), "JICKET_ID_ALPHABET"),
    (TicketIdScheme(prefix="J I"), "JICKET_ID_PREFIX"),
    (TicketIdScheme(min_length=-1), "JICKET_ID_MINLEN"),
])
def test_invalid_schemes_name_the_setting(scheme, setting):
    assert setting in [name for name, _ in scheme.problems()]
