"""`loopline serve`: an OpenAI-compatible server on the base model plus the promoted adapter, hot-swapped when the
registry moves, with thumbs up/down published to Kafka as FeedbackEvents for the trainer's KTO step.

Beam-free: it imports the trainer's model and registry code, the catalog and the config, nothing of pipelines/.
"""
