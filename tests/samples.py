"""One valid record per schema, for schema round-trip and evolution tests."""

LINEAGE = [{"topic": "events.ticket", "partition": 1, "offset": 42}, {"topic": "events.ticket", "partition": 1, "offset": 57}]
WINDOW = {"key": "T-1001", "start": 1_793_000_000_000, "end": 1_793_000_600_000}

SAMPLES = {
    "ChatEvent": {"conversation_id": "c-1", "message_id": "m-1", "sender_role": "customer", "sender_id": "cust-0001",
                  "text": "Hi, my order hasn't arrived", "event_time": 1_793_000_000_000, "channel": "web", "tenant": "acme",
                  "ends_conversation": None},
    "EmailEvent": {"message_id": "<a@mail>", "thread_id": "th-1", "in_reply_to": None, "from_address": "a@example.com",
                   "to_addresses": ["support@acme.example"], "subject": "Invoice", "body_text": None,
                   "body_html": "<p>Hello</p>", "event_time": 1_793_000_000_000, "tenant": "acme"},
    "TicketEvent": {"ticket_id": "T-1001", "event_id": "e-1", "event_type": "opened", "author_role": "customer",
                    "author_id": "cust-0001", "text": "Login fails", "event_time": 1_793_000_000_000,
                    "product": "Portal", "tags": ["login"], "author_email": None},
    "FeedbackEvent": {"response_id": "r-1", "prompt": "How do I reset?", "response": "Click 'Forgot password'.",
                      "adapter_version": "adapter-0001", "rating": "up", "comment": None, "event_time": 1_793_000_000_000},
    "DeletionEvent": {"subject_id": "cust-0001", "event_time": 1_793_000_000_000, "linked_ids": None},
    "CuratedPair": {"pair_id": "p-1", "instruction": "Login fails", "input": None, "output": "Reset your password.",
                    "task": "account", "quality_score": 0.8, "source_kind": "ticket", "lineage": LINEAGE,
                    "content_hash": "ab" * 32, "pii_entity_counts": {"PERSON": 1}, "subject_hashes": ["cd" * 32],
                    "window": WINDOW, "created_at": 1_793_000_700_000, "pipeline_version": "0.1.0"},
    "CuratedDocument": {"doc_id": "d-1", "text": "Login fails for <PERSON_1>.", "source_kind": "ticket", "lineage": LINEAGE,
                        "content_hash": "ef" * 32, "pii_entity_counts": {"PERSON": 1}, "subject_hashes": [],
                        "window": WINDOW, "created_at": 1_793_000_700_000, "pipeline_version": "0.1.0"},
    "FeedbackExample": {"example_id": "f-1", "prompt": "How do I reset?", "response": "Click 'Forgot password'.",
                        "desirable": True, "adapter_version": "adapter-0001", "comment": None,
                        "event_time": 1_793_000_000_000, "lineage": LINEAGE[:1], "created_at": 1_793_000_700_000,
                        "pipeline_version": "0.1.0"},
    "DeadLetter": {"raw": b"{\"broken", "topic": "events.chat", "partition": 0, "offset": 7, "stage": "decode",
                   "reason": "invalid_json", "detail": "Expecting ',' delimiter: line 1 column 9",
                   "time": 1_793_000_000_000},
    "Lineage": LINEAGE[0],
    "Window": WINDOW,
    "SourceKind": "email",
}
