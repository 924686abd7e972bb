"""Feast features over the curated store, which choose what the continual trainer trains on.

export.py turns a store snapshot into the offline tables (parquet), repo/ is the Feast repository as code,
store.py builds the FeatureStore from a LooplineConfig and runs apply, materialize and historical retrieval.
Beam-free and Kafka-free; importing feast costs seconds, so only store.py (and repo/) import it.
"""
