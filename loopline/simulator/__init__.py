"""Synthetic enterprise support traffic with ground truth (generate.py: the entry point, stream.py and the
modules it drives) and its Kafka producer (produce.py). Text pools live in text/, one module per topic.

Nothing is re-exported here: a package attribute named `generate` would shadow the generate module.
"""
