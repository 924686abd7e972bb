"""Synthetic enterprise support traffic with ground truth (generate.py) and its Kafka producer (produce.py).

Nothing is re-exported here: a package attribute named `generate` would shadow the generate module.
"""
