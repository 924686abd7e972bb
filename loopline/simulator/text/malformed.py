"""Content of broken payloads: non-ASCII sentences for invalid UTF-8, log lines for oversized messages."""

# Non-ASCII sentences appended before a text is written as cp1252, so the bytes are never valid UTF-8.
LATIN1_SENTENCES = [
    "Merci beaucoup, à bientôt.",
    "Café und Grüße aus München.",
    "Le délai est dépassé.",
    "Réponse urgente, s'il vous plaît.",
]

LOG_LINES = [
    "2026-01-05T10:00:01.123Z ERROR [worker-3] sync failed: connection reset by peer (retry 1/5)",
    "2026-01-05T10:00:02.456Z WARN  [scheduler] job export-weekly exceeded soft limit of 300s",
    "2026-01-05T10:00:03.789Z INFO  [http] GET /api/v2/items?page=17 200 812ms",
    "2026-01-05T10:00:04.012Z DEBUG [cache] miss key=session:8f2a1c ttl=0",
]
