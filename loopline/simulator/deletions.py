"""Deletion requests: forget a person, named by any one of their ids, sometimes with others as linked_ids."""

from __future__ import annotations

from loopline import catalog
from loopline.simulator.arrival import Arrivals
from loopline.simulator.strings import json_bytes
from loopline.simulator.toolkit import Toolkit
from loopline.simulator.truth import Out, truth_record


class Deletions:
    source = catalog.by_kind("deletion")

    def __init__(self, tools: Toolkit, arrivals: Arrivals):
        self.rng, self.cfg, self.people = tools.rng, tools.cfg, tools.people
        self.arrivals = arrivals

    def make(self, t: int) -> Out | None:
        """Forget a customer already seen, with nothing of theirs still in flight; they never return.
        The request names any one of the person's ids (not necessarily one seen in traffic), and
        sometimes lists some of the others as linked_ids. None while no customer qualifies."""
        candidates = [p for p in self.people.customers if p.seen_ids and p.pending == 0]
        if not candidates:
            return None
        persona = self.rng.choice(candidates)
        subject = self.rng.choice(persona.ids)
        self.people.retire(persona)
        record = {"subject_id": subject, "event_time": t}
        others = [i for i in persona.ids if i != subject]
        if others and self.rng.random() < self.cfg.deletion_linked_fraction:
            record["linked_ids"] = self.rng.sample(others, self.rng.randint(1, len(others)))
        arrival, timing = self.arrivals.arrive(t)
        truth = truth_record(
            self.source,
            timing,
            persona,
            subject_ids=[subject, *record.get("linked_ids", [])],
            deletion_subject=subject,
            deletion_person=persona.person_id,
            deletion_person_ids=sorted(persona.ids),
        )
        return Out(arrival, self.source.topic, record[self.source.key].encode(), json_bytes(record), truth)
