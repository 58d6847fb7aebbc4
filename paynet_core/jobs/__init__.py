"""The bulk engine: journaled, resumable, concurrent and rate-limited jobs.

What callers use, by subject: :mod:`.planner` (what a job will send), :mod:`.control` (LIVE
guards; start, pause, resume, cancel), :mod:`.runner` (the async runner), :mod:`.ownership`
(heartbeats, live runners, stale jobs, overlapping jobs), :mod:`.background` (threads and
detached processes) and :mod:`.clients` (one Paynet client per worker).
"""

from .background import (
    JobThread,
    enqueue_chunks,
    queue_of,
    resume_stale_jobs,
    run_job_detached,
    run_job_in_background,
)
from .clients import ClientFactory, TransportWrap, paynet_clients, paynet_over, paynet_over_http
from .control import (
    DEFAULT_CONCURRENCY,
    DEFAULT_RATE,
    LIVE_FIRST_BATCH,
    JobSummary,
    cancel_job,
    confirmation_phrase,
    default_first_batch,
    default_rate,
    job_summary,
    live_requires_confirmation,
    pause_job,
    resumable,
    resume_job,
    resume_refusal,
    start_job,
)
from .ownership import ACTIVE_STATES, HEARTBEAT_INTERVAL, STALE_AFTER, live_runner, stale_jobs
from .runner import (
    BREAKER_FAILURES,
    CREATE_TRIES,
    CREATE_WAIT,
    POLL_INTERVAL,
    create_policy,
    run_job,
)

__all__ = [
    "ACTIVE_STATES",
    "BREAKER_FAILURES",
    "CREATE_TRIES",
    "CREATE_WAIT",
    "DEFAULT_CONCURRENCY",
    "DEFAULT_RATE",
    "HEARTBEAT_INTERVAL",
    "LIVE_FIRST_BATCH",
    "POLL_INTERVAL",
    "STALE_AFTER",
    "ClientFactory",
    "JobSummary",
    "JobThread",
    "TransportWrap",
    "cancel_job",
    "create_policy",
    "confirmation_phrase",
    "default_first_batch",
    "default_rate",
    "job_summary",
    "live_requires_confirmation",
    "live_runner",
    "pause_job",
    "paynet_clients",
    "paynet_over",
    "paynet_over_http",
    "resumable",
    "resume_job",
    "resume_refusal",
    "resume_stale_jobs",
    "run_job",
    "run_job_detached",
    "run_job_in_background",
    "enqueue_chunks",
    "queue_of",
    "stale_jobs",
    "start_job",
]
