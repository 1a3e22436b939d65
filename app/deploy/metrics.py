"""Deploy jobs by status, read from the database each time /metrics is scraped."""

from __future__ import annotations

from prometheus_client import Gauge
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
