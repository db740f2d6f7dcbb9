"""The pipeline stages of newswire: plain functions on plain data.

fetch -> decode -> extract -> normalize -> store (dedup, events) -> feeds.
Nothing here knows about Celery; ``worker/`` wraps these functions in thin task shells.
"""
