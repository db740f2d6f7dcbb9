"""Processes around the pipeline: the Celery app and task shells, the beat schedule, the CLI,
the HTTP feed server and the runtime (embedded Redis, the all-in-one `newswire run`)."""
