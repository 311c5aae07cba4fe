"""What Jira gets for one parsed mail: the wiki text and the files to upload (pure, no I/O).

``write_to_jira`` and ``jicket-inspect`` both call ``mail_content``, so what the inspector shows is
what the DAG writes. Steps: name every attachment (Jira-safe, unique on the issue), apply the size
limit (a skipped file leaves a visible note), render the body segments in order (plain text
escaped, HTML converted, inline images as ``!name!`` where they stood, forwarded mails quoted),
cut quoted history from replies, and add the raw mail when it could not be read or was cut.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from jicket_ops.domain.attachments import extension_for, format_size, safe_filename, unique_names
from jicket_ops.domain.html_text import flat_text, too_complex
from jicket_ops.domain.limits import BODY_LIMIT, ENVELOPE_CC_LIMIT
from jicket_ops.domain.parsing import ENCRYPTED_TYPES, SIGNATURE_TYPES, ForwardedMail, ParsedMail, Segment
from jicket_ops.domain.reply_text import cut_html, kept_lines
from jicket_ops.domain.settings import DEFAULT_ATTACHMENT_MAX_BYTES, DEFAULT_REPLY_LANGUAGES
from jicket_ops.domain.wiki_markup import (
    balance_macros,
    escape_line,
    html_to_wiki,
    plain_to_wiki,
    tidy,
    unescape,
)

if TYPE_CHECKING:
    from jicket_ops.domain.settings import Settings

MAX_ATTACHMENTS = 60  # files per mail uploaded at most; the rest stay in the attached original
MAX_NOTES = 12
ORIGINAL_NAME = "original-message.eml"
KINDS = ("mail", "auto_reply", "bounce")


@dataclass(frozen=True)
class ContentOptions:
    """JICKET_ATTACHMENT_MAX_BYTES, JICKET_REPLY_STRIP_QUOTES, JICKET_REPLY_ATTACH_ORIGINAL, JICKET_REPLY_LANGUAGES."""

    max_attachment_bytes: int = DEFAULT_ATTACHMENT_MAX_BYTES
    strip_quotes: bool = True
    attach_original: bool = False
    languages: tuple[str, ...] = DEFAULT_REPLY_LANGUAGES

    @classmethod
    def from_settings(cls, settings: Settings) -> ContentOptions:
        return cls(
            max_attachment_bytes=settings.attachment_max_bytes,
            strip_quotes=settings.reply_strip_quotes,
            attach_original=settings.reply_attach_original,
            languages=tuple(settings.reply_languages),
        )


@dataclass(frozen=True)
class Upload:
    filename: str  # the name on the issue
    content_type: str
    data: bytes = field(repr=False)
    inline: bool = False
    original_name: str = ""

    @property
    def size(self) -> int:
        return len(self.data)


@dataclass(frozen=True)
class Skipped:
    filename: str
    size: int
    reason: str


@dataclass(frozen=True)
class MailContent:
    body: str  # wiki markup of the mail's own text (no envelope, no marker)
    uploads: tuple[Upload, ...]
    skipped: tuple[Skipped, ...]
    notes: tuple[str, ...]
    quotes_cut: bool
    kind: str

    @property
    def upload_names(self) -> tuple[str, ...]:
        return tuple(u.filename for u in self.uploads)


class _Names:
    """Assigns issue-unique names as files turn up (attachments first, then data: images)."""

    def __init__(self, taken: tuple[str, ...]) -> None:
        self.taken = list(taken)

    def claim(self, wanted: str) -> str:
        name = unique_names([wanted], self.taken)[0]
        self.taken.append(name)
        return name


def mail_content(mail: ParsedMail, *, options: ContentOptions | None = None, as_comment: bool = False,
                 kind: str = "mail", taken_names: tuple[str, ...] = ()) -> MailContent:
    """The text and the files Jira gets for this mail, on an issue that already holds ``taken_names``."""
    options = options or ContentOptions()
    notes: list[str] = []
    skipped: list[Skipped] = []
    names = _Names(taken_names)
    machine = kind in ("auto_reply", "bounce")

    # 1. every attachment gets its issue name, or a reason why it is not uploaded
    planned: dict[int, Upload] = {}
    for index, attachment in enumerate(mail.attachments):
        wanted = safe_filename(attachment.filename, attachment.content_type, index + 1)
        if machine:
            skipped.append(Skipped(wanted, attachment.size, "part of an automatic mail"))
        elif mail.encryption and attachment.content_type in ENCRYPTED_TYPES:
            skipped.append(Skipped(wanted, attachment.size, "the encrypted content (in the original mail)"))
        elif attachment.content_type in SIGNATURE_TYPES:
            skipped.append(Skipped(wanted, attachment.size, "the mail's signature (in the original mail)"))
        elif attachment.size > options.max_attachment_bytes:
            skipped.append(Skipped(wanted, attachment.size, "larger than the limit of "
                                   f"{format_size(options.max_attachment_bytes)} (JICKET_ATTACHMENT_MAX_BYTES)"))
        elif len(planned) >= MAX_ATTACHMENTS:
            skipped.append(Skipped(wanted, attachment.size, f"more than {MAX_ATTACHMENTS} files in one mail"))
        else:
            planned[index] = Upload(names.claim(wanted), attachment.content_type, attachment.data,
                                    inline=attachment.inline, original_name=attachment.filename)
        if attachment.origin == "tnef":
            notes.append(f"{wanted} is an Outlook TNEF container (winmail.dat); it is attached as it is")
    skipped_names = {s.filename for s in skipped}
    by_cid: dict[str, int] = {}
    by_name: dict[str, int] = {}
    for index, attachment in enumerate(mail.attachments):
        if attachment.content_id:
            by_cid.setdefault(attachment.content_id.lower(), index)
        by_name.setdefault(attachment.filename.lower(), index)

    placed: set[int] = set()

    def image_markup(index: int) -> str:
        placed.add(index)
        upload = planned.get(index)
        attachment = mail.attachments[index]
        if upload is None:
            name = safe_filename(attachment.filename, attachment.content_type, index + 1)
            return f"_({escape_line(name)} not attached)_" if name in skipped_names else ""
        if attachment.content_type.startswith("image/"):
            return f"!{upload.filename}!"
        return f"[^{upload.filename}]"

    def by_reference(ref: str) -> str | None:
        key = ref.strip().strip("<>").lower()
        index = by_cid.get(key)
        if index is None:
            index = by_name.get(key)
        if index is None and "@" in key:  # Outlook: cid:image001.png@01DA... names the file
            index = by_name.get(key.split("@", 1)[0])
        return image_markup(index) if index is not None else None

    extra: list[Upload] = []

    def data_image(content_type: str, data: bytes) -> str:
        wanted = f"inline-image-{len(extra) + 1}{extension_for(content_type)}"
        if machine or len(data) > options.max_attachment_bytes:
            skipped.append(Skipped(wanted, len(data), "part of an automatic mail" if machine
                                   else "larger than the attachment limit"))
            return ""
        upload = Upload(names.claim(wanted), content_type, data, inline=True, original_name=wanted)
        extra.append(upload)
        return f"!{upload.filename}!"

    # 2. the body, in order
    cut_anything = False
    strip = as_comment and options.strip_quotes and kind == "mail"
    blocks: list[str] = []
    for segment in mail.segments:
        if segment.kind == "attachment" and segment.ref in placed:
            continue
        wiki, cut = _segment_wiki(segment, mail, strip, options, by_reference, image_markup, data_image)
        cut_anything = cut_anything or cut
        if wiki.strip():
            blocks.append(wiki)
    if kind == "bounce" and mail.delivery_status.strip():
        status = mail.delivery_status.strip()[:4000].replace("{noformat}", "{ noformat}")
        blocks.append("*Delivery status*\n{noformat}\n" + status + "\n{noformat}")
    body = tidy("\n\n".join(blocks))
    if strip and not cut_anything:
        lines = body.split("\n")
        keep = kept_lines("\n".join(unescape(line) for line in lines), options.languages)
        if keep is not None:
            body = balance_macros(tidy("\n".join(lines[:keep])))
            cut_anything = True

    # 3. attachments no segment showed are listed (all uploads are listed in the attachment list anyway)
    uploads = [planned[i] for i in sorted(planned)] + extra

    # 4. the raw mail goes along when the mail could not be read, when its text is too long for Jira,
    #    or (configurable) when history was cut
    too_long = len(body) > BODY_LIMIT
    if too_long:
        body = balance_macros(body[: body.rfind("\n", 0, BODY_LIMIT) if "\n" in body[BODY_LIMIT - 2000:BODY_LIMIT]
                                    else BODY_LIMIT])
        notes.insert(0, f"the text is longer than Jira allows and was cut; the whole mail is attached as "
                        f"{ORIGINAL_NAME}")
    degraded = next((why for s in mail.segments if s.kind == "html" and (why := too_complex(s.text))), None)
    if degraded:
        notes.insert(0, f"shown as plain text because {degraded}; the original is attached as {ORIGINAL_NAME}")
    if mail.encryption:
        notes.insert(0, f"this mail is encrypted ({mail.encryption}); Jicket cannot read it: the original is attached "
                        f"as {ORIGINAL_NAME}, to be opened with the recipient's key")
        degraded = degraded or f"encrypted ({mail.encryption})"
    elif mail.signature:
        sender = mail.headers.from_address or "an unknown sender"
        notes.append(f"signed ({mail.signature}) by {sender}, not verified")
    losses = _header_losses(mail)
    if losses:
        notes.insert(0, f"part of the header is not shown ({'; '.join(losses)[:300]}); the original is attached as "
                        f"{ORIGINAL_NAME}")
        degraded = degraded or losses[0]
    if mail.unreadable:
        notes.insert(0, f"this mail could not be fully understood ({mail.unreadable}); "
                        f"the original is attached as {ORIGINAL_NAME}")
    attach_raw = bool(mail.unreadable or degraded) or too_long or (cut_anything and options.attach_original)
    if attach_raw and mail.raw:
        if len(mail.raw) > options.max_attachment_bytes:
            skipped.append(Skipped(ORIGINAL_NAME, len(mail.raw), "larger than the attachment limit"))
        else:
            uploads.append(Upload(names.claim(ORIGINAL_NAME), "message/rfc822", mail.raw, original_name=ORIGINAL_NAME))
    if cut_anything:
        notes.append("quoted text and signature cut" + (f"; the whole mail is attached as {uploads[-1].filename}"
                                                        if options.attach_original and uploads else ""))

    for item in skipped:
        notes.append(f"attachment {item.filename} ({format_size(item.size)}) not uploaded: {item.reason}")
    for defect in mail.defects:
        if len(notes) >= MAX_NOTES:
            break
        notes.append(f"mail defect: {defect}")
    return MailContent(body=body, uploads=tuple(uploads), skipped=tuple(skipped), notes=tuple(dict.fromkeys(notes)),
                       quotes_cut=cut_anything, kind=kind if kind in KINDS else "mail")


def _header_losses(mail: ParsedMail) -> list[str]:
    """What the issue cannot show of the mail's header: then the original goes along."""
    losses = [d for d in dict.fromkeys((*mail.headers.defects, *mail.defects)) if "cut" in d]
    if not mail.headers.from_address:
        losses.append("no sender address could be read")
    if len(mail.headers.cc) > ENVELOPE_CC_LIMIT:
        losses.append(f"{len(mail.headers.cc):,} Cc addresses, of which {ENVELOPE_CC_LIMIT} are listed")
    return losses


def _segment_wiki(segment: Segment, mail: ParsedMail, strip: bool, options: ContentOptions, by_reference,
                  image_markup, data_image) -> tuple[str, bool]:
    if segment.kind == "plain":
        text = segment.text
        cut = False
        if strip:
            keep = kept_lines(text, options.languages)
            if keep is not None:
                text = "\n".join(text.replace("\r\n", "\n").split("\n")[:keep])
                cut = True
        return plain_to_wiki(text, by_reference), cut
    if segment.kind == "html":
        if too_complex(segment.text):
            return plain_to_wiki(flat_text(segment.text), by_reference), False
        removed = []

        def prepare(soup) -> None:
            if strip and cut_html(soup):
                removed.append(True)

        wiki, _ = html_to_wiki(segment.text, images=by_reference, name_data_image=data_image, prepare=prepare)
        if removed and not wiki.strip():  # everything was "quote": keep the mail whole
            wiki, _ = html_to_wiki(segment.text, images=by_reference, name_data_image=data_image)
            removed.clear()
        return wiki, bool(removed)
    if segment.kind == "attachment" and segment.ref is not None:
        return image_markup(segment.ref), False  # (an image the HTML already placed is skipped by the caller)
    if segment.kind == "message" and segment.message is not None:
        return _forwarded_wiki(segment.message, image_markup), False
    return "", False


def _forwarded_wiki(forwarded: ForwardedMail, image_markup) -> str:
    headers = forwarded.headers
    lines = ["*Forwarded message*"]
    for label, value in (("From", headers.from_display), ("Date", headers.date), ("Subject", headers.subject),
                         ("To", ", ".join(headers.to))):
        if value:
            lines.append(f"{label}: {escape_line(value)}")
    parts: list[str] = []
    for segment in forwarded.segments:
        if segment.kind == "plain":
            parts.append(plain_to_wiki(segment.text))
        elif segment.kind == "html" and too_complex(segment.text):
            parts.append(plain_to_wiki(flat_text(segment.text)))
        elif segment.kind == "html":
            parts.append(html_to_wiki(segment.text, name_data_image=lambda ct, data: "")[0])
        elif segment.kind == "message" and segment.message is not None:
            parts.append(_forwarded_wiki(segment.message, lambda i: ""))
    inner = tidy("\n\n".join(p for p in parts if p.strip())).replace("{quote}", "")
    if forwarded.attachment_names:
        inner += "\n\n_Attachments of the forwarded mail (in the .eml): " + escape_line(
            ", ".join(forwarded.attachment_names)) + "_"
    if forwarded.ref is not None:
        link = image_markup(forwarded.ref)
        if link:
            inner += f"\n\n{link}"
    return "{quote}\n" + "\n".join(lines) + "\n\n" + tidy(inner) + "\n{quote}"
