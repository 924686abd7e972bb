"""The Feast repository as code: feature_store.yaml + definitions.py (`feast -c features/repo ...`)."""
