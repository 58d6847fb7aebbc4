"""Distributed bulk jobs: chunks of a job on a PostgreSQL queue (PgQueuer), run by
``paynet-ops worker`` processes on any machine that reaches the database and the provider.

The queue delivers a chunk at least once (a dead worker's chunk is picked again when its
heartbeat goes stale); the journal in the store makes each item's effect exactly once: a chunk
resumes from its items' states, reconciling the ones a dead worker left in 'sending'. A sweep in
the workers puts back any chunk that should be queued and is not (e.g. a resume refused by the
dedupe key while the paused chunks were still held).

- :mod:`.queue` splitting a job into chunks and enqueueing them (dedupe keys)
- :mod:`.chunk` running one chunk with the job runner's machinery
- :mod:`.shared_rate` one request rate for all workers (a bucket row in PostgreSQL)
- :mod:`.worker` the worker process: queue manager, registry, scheduled sync
- :mod:`.status` who holds which chunk (``paynet-ops jobs list``)
"""

from __future__ import annotations

from .queue import CHUNK_SIZE, ENTRYPOINT, chunk_ranges, enqueue_job, enqueue_job_now

__all__ = ["CHUNK_SIZE", "ENTRYPOINT", "chunk_ranges", "enqueue_job", "enqueue_job_now"]
