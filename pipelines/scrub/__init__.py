"""Mask PII in message text with Presidio: typed placeholders, consistent within a conversation.

Detection is Presidio's AnalyzerEngine with a spaCy model cut down to its NER pipe (PERSON is all
we ask of spaCy), the predefined recognizers for the configured entity types, phone numbers through
`phonenumbers` (every format of 15 regions, extensions included), and our own rules for what support
traffic carries (ACC-/ORD- ids, internal hosts, API keys, street addresses, names in greetings, sign-offs
and mail headers). Recall beats precision: overlapping
detections are merged so nothing detected stays half visible, and a name or value found once in a
conversation is masked everywhere in it. Placeholders (`<PERSON_1>`) are numbered per context in
order of first appearance, so one person keeps one placeholder across a thread.

  rules.py     the rule catalog, its validators and the Presidio recognizer that runs it
  phones.py    phone numbers through phonenumbers' matcher, on phone-like runs of the text only
  ner.py       the NER engine (spaCy via Presidio) and the offline public-suffix list
  scrubber.py  Scrubber: detect, propagate, resolve, render placeholders (Beam-free)
  stage.py     the Beam stage (ScrubThreads)         lines.py    the `loopline scrub` filter

Never log or raise with text in the message: everything here may be PII.
"""

from pipelines.scrub.lines import filter_lines
from pipelines.scrub.ner import offline_tldextract
from pipelines.scrub.scrubber import Scrubber, scrubber
from pipelines.scrub.stage import ScrubThreads

__all__ = ["ScrubThreads", "Scrubber", "filter_lines", "offline_tldextract", "scrubber"]
