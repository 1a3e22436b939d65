"""Deploy jobs by status, read from the database each time /metrics is scraped."""

from __future__ import annotations

from prometheus_client import Counter, Gauge
from tortoise.functions import Count

from app.core.metrics import REGISTRY, before_scrape
from app.deploy.models import DeployJob, DeployJobStatus

DEPLOY_JOBS = Gauge(
    "phonegraph_deploy_jobs",
    "Deploy jobs by status (read from the database at scrape time).",
    ["status"],
    registry=REGISTRY,
)


@before_scrape.connect
async def refresh_job_counts() -> None:
    counts = {s.value: 0 for s in DeployJobStatus}
    rows = await DeployJob.all().group_by("status").annotate(n=Count("id")).values("status", "n")
    for row in rows:
        counts[str(row["status"])] = row["n"]
    for status, n in counts.items():
        DEPLOY_JOBS.labels(status).set(n)

LEASES_LOST = Counter(
    "phonegraph_deploy_leases_lost_total",
    "Deploy jobs this process stopped because it no longer held their lease.",
    registry=REGISTRY,
)
HANDED_BACK = Counter(
    "phonegraph_deploy_jobs_handed_back_total",
    "Deploy jobs this process gave up while stopping (back to the queue, or interrupted "
    "after the restart was sent).",
    registry=REGISTRY,
)
TAKEN_OVER = Counter(
    "phonegraph_deploy_jobs_taken_over_total",
    "Deploy jobs whose lease had expired that this process took over.",
    registry=REGISTRY,
)
