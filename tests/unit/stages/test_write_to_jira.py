"""stages.write_to_jira, its pure part: how the pending mails are cut into IMAP body fetches."""

from jicket_ops.stages.write_to_jira import BODY_BATCH_BYTES, BODY_BATCH_MAILS, body_batches

MIB = 1024 * 1024


def test_no_mails_no_batches():
    assert body_batches([], {}) == []


def test_batches_keep_the_order_and_stop_at_the_mail_count():
    uids = list(range(1, 2 * BODY_BATCH_MAILS + 21))
    batches = body_batches(uids, {uid: 1000 for uid in uids})
    assert [len(b) for b in batches] == [BODY_BATCH_MAILS, BODY_BATCH_MAILS, 20]
    assert [uid for batch in batches for uid in batch] == uids


def test_batches_stop_at_the_byte_budget_and_a_mail_that_reaches_it_exactly_still_fits():
    six = {1: 6 * MIB, 2: 6 * MIB, 3: 6 * MIB, 4: 6 * MIB}
    assert body_batches([1, 2, 3, 4], six) == [[1, 2], [3, 4]]
    exact = {1: BODY_BATCH_BYTES - 10, 2: 10, 3: 1}
    assert body_batches([1, 2, 3], exact) == [[1, 2], [3]]


def test_a_mail_over_the_budget_is_fetched_alone_and_unknown_sizes_count_nothing():
    sizes = {1: MIB, 2: BODY_BATCH_BYTES * 3, 3: MIB}
    assert body_batches([1, 2, 3], sizes) == [[1], [2], [3]]
    assert body_batches([7, 8, 9], {}) == [[7, 8, 9]]
