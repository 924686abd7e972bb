"""Rendering one email as its client would: plain text and HTML, signature, disclaimer, quoted previous message."""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import TYPE_CHECKING

from loopline.simulator.people import Agent, Persona
from loopline.simulator.strings import html_escape, random_hex, time_fields
from loopline.simulator.text import mail as mail_text

if TYPE_CHECKING:
    from loopline.simulator.generate import SimConfig


@dataclass
class Signature:
    """What a mail client appends below the body."""

    signoff: str | None
    typed: str | None
    lines: list[str]
    footer: str | None
    disclaimer: str | None


@dataclass
class Mail:
    """A rendered email, kept so the next reply can quote it."""

    message_id: str
    name: str
    address: str
    to: list[str]
    subject: str
    time: int
    text: str
    html: str  # the full HTML document
    inner_html: str  # body content only, for nesting into the next reply's quote


class MailRenderer:
    def __init__(self, rng: random.Random, cfg: SimConfig):
        self.rng, self.cfg = rng, cfg

    def render(
        self,
        client: str,
        lang: str,
        name: str,
        address: str,
        to: list[str],
        subject: str,
        t: int,
        blocks: list[str],
        sig: Signature | None,
        quoting: Mail | None,
    ) -> Mail:
        """Render one email as its client would: plain text and HTML, quoting the previous message."""
        message_id = f"<{random_hex(self.rng, 20)}@{mail_text.MESSAGE_ID_DOMAINS[client]}>"
        text = "\n\n".join(blocks)
        content = "".join(mail_text.HTML_BLOCK[client].format(p=html_escape(b).replace("\n", "<br>")) for b in blocks)
        signature = ""
        if sig is not None:
            text += self._sig_text(client, sig)
            content, signature = self._sig_html(client, sig, content)
        quote = ""
        if quoting is not None:
            header = self._quote_header(client, lang, quoting)
            if client == "outlook":
                text += f"\n\n{self.rng.choice(mail_text.OUTLOOK_SEPARATORS)}\n{header}\n\n{quoting.text}"
            else:
                quoted = "\n".join(f"> {line}" if line else ">" for line in quoting.text.split("\n"))
                text += f"\n\n{header}\n{quoted}"
            quote = mail_text.HTML_QUOTE[client].format(
                header=self._header_html(client, header, quoting.address),
                quoted=quoting.inner_html,
                mid=quoting.message_id.strip("<>"),
            )
        html = mail_text.HTML_DOCS[client].format(content=content, signature=signature, quote=quote)
        return Mail(message_id, name, address, to, subject, t, text, html, f"<div>{content}{signature}{quote}</div>")

    @staticmethod
    def customer_signature(persona: Persona, signed: bool) -> Signature | None:
        if not signed:
            return None
        lines = [] if persona.mobile_footer else persona.signature_lines()
        return Signature(persona.signoff, persona.first_name, lines, persona.mobile_footer, persona.disclaimer)

    def agent_signature(self, agent: Agent) -> Signature:
        disclaimer = mail_text.DISCLAIMERS[0] if self.rng.random() < 0.3 else None
        lines = [agent.name, f"{agent.title} | {self.cfg.tenant.capitalize()}", agent.phone]
        return Signature(self.rng.choice(mail_text.SIGNOFFS["en"]), agent.first_name, lines, None, disclaimer)

    @staticmethod
    def reply_subject(subject: str, lang: str, client: str) -> str:
        prefix = mail_text.OUTLOOK_REPLY_PREFIX if client == "outlook" and lang == "en" else mail_text.REPLY_PREFIX[lang]
        return subject if subject.startswith(prefix) else prefix + subject

    @staticmethod
    def _sig_text(client: str, sig: Signature) -> str:
        tail = []
        if sig.signoff:
            tail.append(sig.signoff + (f"\n{sig.typed}" if sig.typed else ""))
        if sig.lines:
            tail.append(("-- \n" if client in ("gmail", "thunderbird") else "") + "\n".join(sig.lines))
        tail += [x for x in (sig.footer, sig.disclaimer) if x]
        return "\n\n" + "\n\n".join(tail)

    @staticmethod
    def _sig_html(client: str, sig: Signature, content: str) -> tuple[str, str]:
        """Sign-off and footer are typed into the body; the signature block and disclaimer are markup."""
        block = mail_text.HTML_BLOCK[client]
        if sig.signoff:
            content += block.format(p=html_escape(sig.signoff) + (f"<br>{html_escape(sig.typed)}" if sig.typed else ""))
        if sig.footer:
            content += block.format(p=html_escape(sig.footer))
        signature = mail_text.HTML_SIGNATURE[client].format(lines="<br>".join(map(html_escape, sig.lines))) if sig.lines else ""
        if sig.disclaimer:
            signature += mail_text.HTML_DISCLAIMER.format(text=html_escape(sig.disclaimer))
        return content, signature

    @staticmethod
    def _quote_header(client: str, lang: str, quoted: Mail) -> str:
        fields = dict(
            time_fields(quoted.time), name=quoted.name, email=quoted.address, to=", ".join(quoted.to), subject=quoted.subject
        )
        if client == "outlook":
            return mail_text.OUTLOOK_HEADERS["de" if lang == "de" else "en"].format(**fields)
        fmt = mail_text.QUOTE_HEADERS[(client, "en")] if lang == "en" else mail_text.QUOTE_HEADERS[lang]
        return fmt.format(**fields)

    @staticmethod
    def _header_html(client: str, header: str, address: str) -> str:
        if client == "outlook":
            return "<br>".join(
                f"<b>{html_escape(label)}:</b>{html_escape(rest)}"
                for label, rest in (line.split(":", 1) for line in header.split("\n"))
            )
        html = html_escape(header)
        if client == "gmail":
            html = html.replace(f"&lt;{address}&gt;", f'&lt;<a href="mailto:{address}">{address}</a>&gt;')
        return html
