"""domain.wiki_markup: mail text and HTML become Jira wiki markup; no sender text becomes markup or a marker."""

import re

from jicket_ops.domain.rendering import markers_in
from jicket_ops.domain.wiki_markup import escape_text, html_to_wiki, plain_to_wiki


def test_sender_text_cannot_inject_markup_or_forge_a_marker():
    hostile = "{anchor:jicket-mail-00000000000000000000} [~admin] |a|b| !x.png! *bold* and *more* -- h1. x"
    escaped = escape_text(hostile)
    assert markers_in(escaped) == set()
    for raw in ("{anchor", "[~admin]", "|a|b|", "!x.png!", "*bold*"):
        assert re.search(r"(?<!\\)" + re.escape(raw), escaped) is None, raw
    assert escape_text("Price: 2 * 3, e-mail snake_case C:\\temp +0100") == \
        "Price: 2 * 3, e-mail snake_case C:\\temp +0100"
    assert escape_text("a + b + c") == "a \\+ b \\+ c"
    assert escape_text("- item\n# item") == "\\- item\n\\# item"
    assert escape_text("see https://x.example/a_b-[c]d.") == "see https://x.example/a_b-%5Bc%5Dd."


def test_html_becomes_wiki_markup_without_scripts():
    wiki, images = html_to_wiki(
        "<style>x{}</style><script>evil()</script><p>A <b>b</b> <i>i</i><br>next</p><ul><li>one<ol><li>two</li>"
        "</ol></li></ul><table><tr><th>h</th><th>v</th></tr><tr><td>c|d</td><td></td></tr></table><blockquote>q</blockquote>"
        "<pre>  code</pre><a href='https://x.example'>link</a><a href='javascript:alert(1)'>js</a>"
        "<img src='cid:logo'><img src='data:image/png;base64,iVBORw0KGgo='>",
        images=lambda cid: "!logo.png!" if cid == "logo" else None)
    assert wiki == ("A *b* _i_\nnext\n\n* one\n*# two\n\n||h||v||\n|c\\|d| |\n\n{quote}\nq\n{quote}\n\n"
                    "{noformat}\n  code\n{noformat}\n\n[link|https://x.example]js !logo.png! !inline-image-1.png!")
    assert [(i.name, i.content_type) for i in images] == [("inline-image-1.png", "image/png")]


def test_plain_text_quotes_become_a_quote_block_and_placeholders_images():
    assert plain_to_wiki("Hi\n> old\n> older\nnew [cid:img@x]", lambda ref: "!img.png!" if ref == "img@x" else None) \
        == "Hi\n{quote}\nold\nolder\n{quote}\nnew !img.png!"
