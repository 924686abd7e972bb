"""Duplicate messages against all history of a dataset: exact, near (MinHash LSH), optionally semantic.

A message is only ever a duplicate of an EARLIER entry of the index, and only of one in its Scope:
  exact     the same words (NFKC, casefolded, punctuation and whitespace ignored) in the same exact scope.
  near      word-shingle Jaccard, estimated from MinHash, >= threshold with an earlier kept message of the
            same near scope, found through LSH bands.
  semantic  optional: cosine of all-MiniLM-L6-v2 embeddings >= semantic_threshold, same near scope.
Texts under min_words words are never duplicates, nor recorded: canned one-liners repeat everywhere.

  index.py    DedupIndex: deciding, in memory, against the entries of one dataset's index directory
  sketch.py   MinHash sketches and LSH buckets          logfile.py  the index's files (log, snapshots)
  scope.py    which messages the pipeline compares with which (message_scopes)
  stage.py    the Beam stage (DedupThreads)             lines.py    the `loopline dedup` filter
"""

from pipelines.dedup.index import DedupIndex, Scope, forget_in_index
from pipelines.dedup.lines import filter_lines
from pipelines.dedup.scope import message_scopes
from pipelines.dedup.sketch import words
from pipelines.dedup.stage import DedupThreads

__all__ = ["DedupIndex", "DedupThreads", "Scope", "filter_lines", "forget_in_index", "message_scopes", "words"]
