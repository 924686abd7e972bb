"""Clean message bodies by source kind: the text a training corpus should hold, nothing a mail client added.

Email: HTML is parsed (lxml), the quote and signature containers mail clients mark up are pruned from
the tree, and it is rendered to text (inscriptis). Quoted replies are split off by mail-parser-reply's
multi-language reply headers ("On ... wrote:", "Am ... schrieb", Outlook "From:/Sent:" blocks, ...),
plus three language-free rules it lacks: an attribution line above "> " quoting, Outlook's "____"
separator, and a dashed banner over a header block (Samsung/Android "-------- Originalnachricht --------",
Thunderbird "-------- Forwarded Message --------", in any language). Then sign-offs and what follows,
"-- " separators, mobile footers and trailing disclaimer paragraphs go, and a trailing signature block
that nothing announces is found by its shape (pipelines/signature.py). Every kind gets mojibake repair
(ftfy) and whitespace normalization; chats that are only filler ("ok", "thanks!") become "". The pipeline
(CleanThreads) and the `loopline clean` filter (filter_lines) both call Cleaner.cleaned, so they clean identically.
"""

from __future__ import annotations

import re
import unicodedata
from typing import BinaryIO, NamedTuple, TextIO

import apache_beam as beam
import ftfy
import lxml.html
from apache_beam.metrics import Metrics
from inscriptis import Inscriptis
from inscriptis.model.config import ParserConfig
from lxml import etree
from mailparser_reply.parser import EmailMessage

from loopline import catalog
from loopline.config import CleanConfig
from pipelines.guard import DEAD, ThreadStage
from pipelines.jsonlines import MAX_LINE_BYTES, Item, run_filter
from pipelines.model import Event, Thread, message_body
from pipelines.signature import signature_start

# Containers that hold the previous message: blockquote (Apple, Thunderbird, Yahoo, Gmail), Gmail's and
# Yahoo's quote wrappers, Thunderbird's attribution line and inline forward, Outlook's reply header. Outlook leaves the quoted
# text unwrapped after its header, so everything from the first of these on goes.
_QUOTES = (
    "//blockquote | //*[contains(@class, 'gmail_quote')] | //*[contains(@class, 'yahoo_quoted')]"
    " | //*[contains(@class, 'moz-cite-prefix') or contains(@class, 'moz-forward-container')]"
    " | //*[@id = 'divRplyFwdMsg' or @id = 'appendonsend']"
)
_SIGNATURES = (
    "//*[contains(@class, 'gmail_signature') or contains(@class, 'moz-signature')"
    " or contains(concat(' ', normalize-space(@class), ' '), ' signature ')]"
)
_QUOTED_LINE = re.compile(r"^[ \t]*>", re.M)
_OUTLOOK_SEPARATOR = re.compile(r"^[ \t]*_{20,}[ \t]*$", re.M)
# "-------- <a few words> --------" over at least two "Label: value" lines ("De : ...", "Subject: \t...")
_HEADER_BANNER = re.compile(
    r"^[ \t]*-{2,}[ \t]*[^\W\d_][^\n]{0,40}?[ \t]*-{2,}[ \t]*\n(?:[ \t]*[^\W\d_][^\n:]{0,25}:[^\n]*\n){2}", re.M
)
_LINE_ABOVE = re.compile(r"^[^\n]*:[ \t]*\n(?:[ \t]*\n)*\Z", re.M)  # last line, ending in ":"
_SIG_SEPARATOR = re.compile(r"^--[ \t]?$", re.M)
_BLANK_RUN = re.compile(r"\n{3,}")
# punctuation, emoji modifiers, variation selectors, joiners: not words to filler matching
_NOT_WORDS = {"Pc", "Pd", "Ps", "Pe", "Pi", "Pf", "Po", "Mn", "Sk", "Cf"}


class Cleaned(NamedTuple):
    text: str
    changes: frozenset  # what was done, as counter names: quoted_removed, signatures_removed, ...


class Cleaner:
    """Cleaning rules compiled once from a CleanConfig: build one per worker (DoFn.setup), not per message."""

    def __init__(self, config: CleanConfig):
        self.config = config
        self._ftfy = ftfy.TextFixerConfig(uncurl_quotes=False, unescape_html=False)
        self._parser = lxml.html.HTMLParser(encoding="utf-8")
        self._html = ParserConfig()
        self._quotes, self._signatures = etree.XPath(_QUOTES), etree.XPath(_SIGNATURES)
        # the library's multi-language reply-header regex, built once (EmailMessage rebuilds it per message)
        self._reply_header = EmailMessage(text="", languages=list(config.reply_languages)).HEADER_REGEX
        signoffs = "|".join(re.escape(s).replace("'", "['’]") for s in config.signoffs)
        footers = "|".join(f.replace("{w}", r"[\w.-]+(?: [\w.-]+){0,2}") for f in config.mobile_footers)
        self._signoff = re.compile(rf"^[ \t]*(?:{signoffs})[ \t]*,?[ \t]*$", re.M | re.I)
        self._footer = re.compile(rf"^[ \t]*(?:{footers})[ \t]*$", re.M | re.I)
        self._disclaimer = re.compile("|".join(re.escape(m) for m in config.disclaimer_markers), re.I)
        self._filler = {_words(f) for f in config.chat_filler}

    def clean(self, kind: str, text: str | None = None, html: str | None = None) -> str:
        """The clean body of one message; text wins when both are given (it is what the sender typed)."""
        return self.cleaned(kind, text, html).text

    def cleaned(self, kind: str, text: str | None = None, html: str | None = None) -> Cleaned:
        if kind not in catalog.conversation_kinds():
            raise ValueError(f"cannot clean kind {kind!r}; expected one of {catalog.conversation_kinds()}")
        changes: set[str] = set()
        if text is None and html is not None:
            text = self.html_to_text(html, changes)
        text = _tidy(self.repair(text or "", changes))
        if kind == "email":
            text = self._email(text, changes)
        elif kind == "ticket":
            text = self._trailer(text, changes)
        elif self.config.strip_signatures:  # chat: only a "--" signature; a "Thanks," line in a chat is content
            text = _cut(text, _SIG_SEPARATOR.search(text, 1), "signatures_removed", changes)
        text = text.strip()
        if kind == "chat" and text and self._is_filler(text):
            changes.add("filler")
            text = ""
        return Cleaned(text, frozenset(changes))

    def repair(self, text: str, changes: set[str]) -> str:
        """Mojibake fixed by ftfy. ASCII text can't hold mojibake, and ftfy is the costliest step: skip it."""
        if not self.config.fix_mojibake or text.isascii():
            return text
        fixed = ftfy.fix_text(text, self._ftfy)
        if fixed != text:
            changes.add("mojibake_fixed")
        return fixed

    def html_to_text(self, html: str, changes: set[str]) -> str:
        """Rendered text of an HTML body, minus the quote and signature blocks its mail client marked."""
        try:  # as UTF-8 bytes, so a stale charset or XML declaration in the markup can't re-decode the text
            tree = lxml.html.document_fromstring(html.encode("utf-8", "surrogatepass"), parser=self._parser)
        except etree.ParserError:  # no elements at all (empty, only comments): no text
            return ""
        if self.config.strip_quoted_replies:
            quotes = self._quotes(tree)
            if quotes:
                _truncate(quotes[0])
                changes.add("quoted_removed")
        if self.config.strip_signatures:
            for node in self._signatures(tree):
                node.drop_tree()
                changes.add("signatures_removed")
        return Inscriptis(tree, self._html).get_text()

    def _email(self, text: str, changes: set[str]) -> str:
        """Body above the first quoted reply, trailer removed; the quote itself goes unless configured to stay."""
        found = (
            self._reply_header.search(text),
            _OUTLOOK_SEPARATOR.search(text),
            _HEADER_BANNER.search(text),
            _attribution(text),
        )
        starts = [m.start() for m in found if m]
        at = min(starts, default=len(text))
        quote = text[at:]
        if quote and self.config.strip_quoted_replies:
            changes.add("quoted_removed")
            quote = ""
        return "\n\n".join(p for p in (self._trailer(text[:at], changes), quote) if p)

    def _trailer(self, text: str, changes: set[str]) -> str:
        """Without what follows the body: sign-off, "-- " signature, mobile footer, disclaimers, then a signature
        block known by its shape (disclaimers first: they often sit below it)."""
        if self.config.strip_signatures:
            # from the second line on: a message that opens with "Thanks," is not all signature
            starts = [
                m for m in (_SIG_SEPARATOR.search(text, 1), self._signoff.search(text, 1), self._footer.search(text, 1)) if m
            ]
            text = _cut(text, min(starts, key=lambda m: m.start(), default=None), "signatures_removed", changes)
        if self.config.strip_disclaimers:
            paragraphs = text.strip().split("\n\n")
            while paragraphs and self._disclaimer.search(paragraphs[-1]):
                paragraphs.pop()
                changes.add("disclaimers_removed")
            text = "\n\n".join(paragraphs)
        if self.config.strip_signatures and (at := signature_start(text)) is not None:
            changes.add("signatures_removed")
            text = text[:at].rstrip()
        return text

    def _is_filler(self, text: str) -> bool:
        """True iff the message's words split entirely into filler phrases ("ok thx", "great, thank you")."""
        words = _words(text)
        reachable = [True] + [False] * len(words)
        for i in range(len(words)):
            if reachable[i]:
                for phrase in self._filler:
                    if phrase and words[i : i + len(phrase)] == phrase:
                        reachable[i + len(phrase)] = True
        return reachable[-1]


def _words(text: str) -> tuple[str, ...]:
    """Lowercased words and symbols (emoji), punctuation dropped: what filler matching compares."""
    return tuple(t for t in re.findall(r"\w+|[^\w\s]", text.lower()) if unicodedata.category(t[0]) not in _NOT_WORDS)


def _attribution(text: str) -> re.Match | None:
    """Where "> " quoting starts: at the "... wrote:" line above it, in any language, when there is one."""
    quoted = _QUOTED_LINE.search(text)
    if quoted is None:
        return None
    return _LINE_ABOVE.search(text[: quoted.start()]) or quoted


def _cut(text: str, match: re.Match | None, what: str, changes: set[str]) -> str:
    if match is None:
        return text
    changes.add(what)
    return text[: match.start()]


def _truncate(node) -> None:
    """Remove `node` and everything after it in document order (Outlook leaves the quoted text unwrapped)."""
    ancestor = node
    while ancestor.getparent() is not None:
        for sibling in list(ancestor.itersiblings()):
            ancestor.getparent().remove(sibling)
        if ancestor is not node:
            ancestor.tail = None
        ancestor = ancestor.getparent()
    node.getparent().remove(node)


def _tidy(text: str) -> str:
    """Whitespace runs inside lines become one space, lines are stripped, paragraphs split by one blank line."""
    lines = (" ".join(line.split()) for line in text.split("\n"))
    return _BLANK_RUN.sub("\n\n", "\n".join(lines)).strip()


def event_text(event: Event) -> tuple[str, str | None, str | None]:
    """(kind, text, html) to clean for a message event: its text body when it has one, else its HTML body."""
    return (event.kind, *message_body(event))


class _CleanThread(ThreadStage):
    stage = "clean"

    def __init__(self, config: CleanConfig):
        self.config = config

    def setup(self):
        self.cleaner = Cleaner(self.config)

    def handle(self, thread: Thread):
        events, counts = [], {}
        for event in thread.events:
            if event.kind in catalog.conversation_kinds():
                result = self.cleaner.cleaned(*event_text(event))
                event = event._replace(text=result.text)
                for what in ("messages", *result.changes, *(("empty",) if not result.text else ())):
                    counts[what] = counts.get(what, 0) + 1
            events.append(event)
        for what, n in counts.items():  # after the whole thread succeeded: a dead-lettered thread counts nothing
            Metrics.counter("loopline", f"clean.{what}").inc(n)
        yield thread._replace(events=tuple(events))


class CleanThreads(beam.PTransform):
    """Threads -> Threads with each chat/email/ticket event's `text` set (main "threads"), dead letters (DEAD)."""

    def __init__(self, config: CleanConfig):
        super().__init__()
        self.config = config

    def expand(self, threads):
        return threads | "CleanThread" >> beam.ParDo(_CleanThread(self.config)).with_outputs(DEAD, main="threads")


def filter_lines(
    stdin: BinaryIO, stdout: BinaryIO | TextIO, config: CleanConfig, kind: str, max_line_bytes: int = MAX_LINE_BYTES
) -> None:
    """`loopline clean`: {"id","text"} or {"id","html"} -> {"id","text"} cleaned as `kind`; the contract is
    pipelines/jsonlines.py's."""
    if kind not in catalog.conversation_kinds():
        raise ValueError(f"kind must be one of {catalog.conversation_kinds()}, not {kind!r}")
    cleaner = Cleaner(config)

    def process(items: list[Item]) -> list[dict]:
        return [{"text": cleaner.clean(kind, item.fields.get("text"), item.fields.get("html"))} for item in items]

    run_filter(stdin, stdout, process, any_of=("text", "html"), max_line_bytes=max_line_bytes)
