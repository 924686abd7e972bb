"""The trainer's one error type: raised with a one-line message the CLI can print as is."""


class TrainerError(Exception):
    """Bad configuration or input for the trainer (unknown base model, missing path, no chat template...)."""
