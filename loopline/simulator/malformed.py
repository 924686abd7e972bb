"""Malformed events: a broken payload on a conversation topic, built from a realistic customer message, in
four ways a real connector breaks things (bad JSON, schema mismatch, invalid UTF-8, oversized)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from loopline import catalog, schemas
from loopline.simulator.arrival import Arrivals
from loopline.simulator.strings import json_bytes
from loopline.simulator.text import malformed, questions
from loopline.simulator.threads import Threads
from loopline.simulator.toolkit import Toolkit
from loopline.simulator.truth import Out, truth_record

MALFORMED_KINDS = ("invalid_json", "schema_mismatch", "invalid_utf8", "oversized")


class MalformedEvents:
    def __init__(self, tools: Toolkit, arrivals: Arrivals, threads: Threads):
        self.rng, self.cfg, self.people, self.composer = tools.rng, tools.cfg, tools.people, tools.composer
        self.arrivals, self.threads = arrivals, threads
        self.seen: list[str] = []  # kinds sent (scheduled) so far, in first-seen order
        self.breakers = {
            "invalid_json": self._invalid_json,
            "schema_mismatch": self._schema_mismatch,
            "invalid_utf8": self._invalid_utf8,
            "oversized": self._oversized,
        }

    def missing(self) -> list[str]:
        """Kinds not scheduled yet, in MALFORMED_KINDS order."""
        return [k for k in MALFORMED_KINDS if k not in self.seen]

    def make(self, t: int, kind: str | None = None) -> Out:
        """A broken payload on a thread topic; `kind` None: the first kind not seen yet, else any."""
        missing = self.missing()
        kind = kind or (missing[0] if missing else self.rng.choice(MALFORMED_KINDS))
        generator = self.threads.generators[self.threads.pick_kind()]
        persona = self.rng.choice(self.people.customers)
        q = self.composer.question(persona, self.rng.choice(questions.TASKS), t)
        record, text_field = generator.standalone(persona, q, t)
        value = self.breakers[kind](record, generator.source, text_field)
        arrival, timing = self.arrivals.arrive(t)
        truth = truth_record(generator.source, timing, persona, malformed=kind)
        persona.pending += 1
        return Out(arrival, generator.source.topic, record[generator.source.key].encode(), value, truth, persona)

    def _invalid_json(self, record: dict, source: catalog.Source, text_field: str) -> bytes:
        s = json.dumps(record, ensure_ascii=False)
        how = self.rng.choice(("truncated", "trailing_comma", "python_repr"))
        if how == "truncated":
            s = s[: self.rng.randint(len(s) // 4, len(s) - 2)]
        elif how == "trailing_comma":
            s = s[:-1] + ",}"
        else:
            s = repr(record)
        return s.encode("utf-8")

    def _schema_mismatch(self, record: dict, source: catalog.Source, text_field: str) -> bytes:
        how = self.rng.choice(("missing", "wrong_type", "bad_enum", "extra"))
        record = dict(record)
        bad_enum = self.threads.generators[source.kind].bad_enum
        if how == "missing":  # a field without a default: dropping an optional one leaves a valid event
            required = {f["name"] for f in schemas.raw(source.schema)["fields"] if "default" not in f}
            del record[self.rng.choice([k for k in record if k in required])]
        elif how == "bad_enum" and bad_enum:
            field, value = bad_enum
            record[field] = value
        elif how == "extra":
            record["priority"] = "high"
        else:
            record["event_time"] = datetime.fromtimestamp(record["event_time"] / 1000, tz=UTC).isoformat()
        return json_bytes(record)

    def _invalid_utf8(self, record: dict, source: catalog.Source, text_field: str) -> bytes:
        """The text field written as cp1252 by a misconfigured connector: é -> 0xE9, never valid UTF-8."""
        text = record[text_field] + " " + self.rng.choice(malformed.LATIN1_SENTENCES)
        before, after = json.dumps(dict(record, **{text_field: "\ue000"}), ensure_ascii=False).split("\ue000")
        raw = json.dumps(text, ensure_ascii=False)[1:-1].encode("cp1252", errors="replace")
        return before.encode("utf-8") + raw + after.encode("utf-8")

    def _oversized(self, record: dict, source: catalog.Source, text_field: str) -> bytes:
        """Valid JSON of exactly oversized_bytes: a customer pasting a huge log into the message."""
        record = dict(record, **{text_field: record[text_field] + "\n\nLog excerpt: "})
        need = self.cfg.oversized_bytes - len(json_bytes(record))
        line = " | ".join(malformed.LOG_LINES) + " | "
        record[text_field] += (line * (need // len(line) + 1))[: max(need, 0)]
        return json_bytes(record)
