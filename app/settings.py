"""Every ``PHONEGRAPH_*`` variable, typed, in one place (CONTRACT §2)."""

from __future__ import annotations

import ipaddress
import os
import secrets
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path


def _int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise SystemExit(f"{name} must be a whole number, got {raw!r}") from exc


def _float(name: str, default: float) -> float:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = float(raw)
    except ValueError as exc:
        raise SystemExit(f"{name} must be a number, got {raw!r}") from exc
    if value <= 0:
        raise SystemExit(f"{name} must be greater than zero, got {raw!r}")
    return value


def _non_negative_float(name: str, default: float) -> float:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = float(raw)
    except ValueError as exc:
        raise SystemExit(f"{name} must be a number, got {raw!r}") from exc
    if value < 0:
        raise SystemExit(f"{name} must not be negative, got {raw!r}")
    return value


def _flag(name: str) -> bool:
    """``1``/``true``/``yes``/``on`` (any case) turn a switch on; unset or ``0``: off."""
    raw = (os.environ.get(name) or "").strip().lower()
    if raw in ("", "0", "false", "no", "off"):
        return False
    if raw in ("1", "true", "yes", "on"):
        return True
    raise SystemExit(f"{name} must be 1 or 0, got {raw!r}")


def _positive_int(name: str, default: int) -> int:
    value = _int(name, default)
    if value < 1:
        raise SystemExit(f"{name} must be at least 1, got {value}")
    return value


# The project folder (it is installed in place, as `make serve` and the Docker image do).
# Relative paths in the settings are the project's, not the current directory's, so the
# command line run from anywhere finds the data the server uses.
PROJECT_DIR = Path(__file__).resolve().parent.parent


def project_path(path: Path) -> Path:
    """``path`` made absolute against the project folder (against the current directory
    when the package is not installed from a checkout)."""
    if path.is_absolute():
        return path
    base = PROJECT_DIR if (PROJECT_DIR / "pyproject.toml").is_file() else Path.cwd()
    return (base / path).resolve()


def _sqlite_url_in_project(url: str) -> str:
    """A ``sqlite://relative/path`` URL made absolute the way :func:`project_path` does."""
    if not url.startswith("sqlite://"):
        return url
    path, sep, query = url.removeprefix("sqlite://").partition("?")
    if not path or path == ":memory:" or Path(path).is_absolute():
        return url
    return f"sqlite://{project_path(Path(path))}{sep}{query}"


Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def _networks(name: str) -> tuple[Network, ...] | None:
    """Comma-separated CIDRs (a bare address is a network of one); unset: ``None``."""
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return None
    out: list[Network] = []
    for part in raw.split(","):
        text = part.strip()
        if not text:
            continue
        try:
            out.append(ipaddress.ip_network(text, strict=False))
        except ValueError as exc:
            raise SystemExit(f"{name}: {text!r} is not an address or CIDR network") from exc
    return tuple(out)


def _str(name: str, default: str | None = None) -> str | None:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    return raw.strip()


@dataclass(frozen=True)
class Settings:
    """The server's configuration, read from the environment."""

    host: str = "127.0.0.1"
    port: int = 8000
    data_dir: Path = Path("data")
    database_url: str = "sqlite://data/phonegraph.sqlite3"
    redis_url: str | None = None
    # Installations sharing one Redis must use different channels (pub/sub channels are
    # shared across Redis database numbers).
    redis_channel: str = "phonegraph:events"
    bootstrap_token: str | None = None
    ftp_url: str | None = None
    secret_key: str | None = None
    deploy_concurrency: int = 32
    phone_timeout: float = 120.0
    # CONTRACT §5 step 4: how long a phone that never missed an OPTIONS is given before
    # the wait ends, and how often OPTIONS are sent (small in tests).
    restart_grace: float = 10.0
    options_interval: float = 1.0
    # How often a server process renews the leases of the deploy jobs it runs, and how
    # long a lease lasts (None: three heartbeats). Another process takes a job over only
    # once its lease has expired by the database's clock.
    deploy_heartbeat: float = 5.0
    deploy_lease: float | None = None
    # On SIGTERM: how long running jobs may take to finish before they are handed back.
    shutdown_grace: float = 30.0
    # The longest a `wait: true` mutation waits for its job.
    wait_timeout: float = 300.0
    # Abuse limits (not in the contract's table, but configurable the same way).
    max_query_depth: int = 12
    max_aliases: int = 30
    max_tokens: int = 5000
    # CONTRACT §12: a query that could return more nodes than this is refused.
    max_query_nodes: int = 50_000
    max_body_bytes: int = 1_000_000
    # The longest list any input may hold (in variables or the document), checked
    # before any per-item work; each list may have its own smaller limit on top.
    max_list_items: int = 1000
    max_subscriptions_per_connection: int = 20
    # How often open WebSockets' tokens are checked against the database: a revoked or
    # expired token's sockets close (4403) within this many seconds, in every process.
    token_recheck: float = 2.0
    # How long a WebSocket may stay open without connection_init (both protocols; 4408).
    ws_init_timeout: float = 60.0
    # A bearer token for GET /metrics besides any SYSTEM_ADMIN API token (for a
    # Prometheus scraper that should hold no API token).
    metrics_token: str | None = None
    log_level: str = "info"
    # CONTRACT §12: the networks phones may be contacted in (None: every address but
    # loopback, link-local, unspecified and multicast ones), and the proxies whose
    # X-Forwarded-For is believed (none by default).
    phone_networks: tuple[Network, ...] | None = None
    trusted_proxies: tuple[Network, ...] = ()
    # Unknown MACs one provisioning key may register as PENDING phones per minute.
    pending_per_minute: int = 20
    # CONTRACT §6: a hot-desk session ends by itself this many seconds after it started.
    hotdesk_timeout: float = 43200.0
    # How often each server process looks for expired hot-desk sessions (expiry is
    # noticed within this time; the contract asks for 10 s at most).
    hotdesk_sweep_interval: float = 5.0
    # CONTRACT §7: the newest this many config revisions of each phone are kept.
    config_revisions: int = 20
    # The address phones reach this server at (Cisco <servicesURL>); None: host and port.
    public_url: str | None = None
    # CONTRACT §11: webhooks may post to loopback, link-local and private addresses
    # (on-premises installs, tests); the first retry of a failed delivery after this
    # many seconds, doubling with each attempt.
    webhook_allow_private: bool = False
    webhook_retry_seconds: float = 30.0
    # Ended (DELIVERED or FAILED) webhook deliveries are kept this many days.
    webhook_delivery_days: float = 30.0
    # CONTRACT §9: every ACTIVE phone with an address gets one SIP OPTIONS this often
    # (seconds; 0 turns presence off), at most this many awaiting an answer at once.
    presence_interval: float = 60.0
    presence_concurrency: int = 200
    # CONTRACT §10: audit events are kept this many days (then deleted, in chunks, by a
    # background task of every server process, every audit_prune_interval seconds).
    audit_days: float = 365.0
    audit_prune_interval: float = 3600.0

    @property
    def resolved_public_url(self) -> str:
        """``PHONEGRAPH_PUBLIC_URL`` without a trailing slash, or ``http://host:port``."""
        if self.public_url:
            return self.public_url.rstrip("/")
        return f"http://{self.host}:{self.port}"

    @property
    def lease_seconds(self) -> float:
        """How long a deploy job's lease lasts without a renewal."""
        return self.deploy_lease if self.deploy_lease is not None else 3 * self.deploy_heartbeat

    @property
    def tftp_dir(self) -> Path:
        """Local config target used when ``PHONEGRAPH_FTP_URL`` is unset."""
        return self.data_dir / "tftpboot"

    def resolved_secret_key(self) -> str:
        """The key that encrypts stored secrets; generated into the data folder once."""
        if self.secret_key:
            return self.secret_key
        path = self.data_dir / "secret.key"
        if path.exists():
            return path.read_text().strip()
        path.parent.mkdir(parents=True, exist_ok=True)
        key = secrets.token_urlsafe(32)
        # Create with owner-only permissions; never overwrite a key another process wrote.
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            return path.read_text().strip()
        with os.fdopen(fd, "w") as fh:
            fh.write(key)
        return key


def load_settings() -> Settings:
    """Read the environment into a :class:`Settings`."""
    data_dir = project_path(Path(_str("PHONEGRAPH_DATA_DIR", "data") or "data"))
    heartbeat = _float("PHONEGRAPH_DEPLOY_HEARTBEAT", 5.0)
    lease = _float("PHONEGRAPH_DEPLOY_LEASE", 3 * heartbeat)
    if lease < 2 * heartbeat:
        raise SystemExit(
            f"PHONEGRAPH_DEPLOY_LEASE ({lease:g} s) must be at least twice "
            f"PHONEGRAPH_DEPLOY_HEARTBEAT ({heartbeat:g} s): a lease must outlive a missed renewal"
        )
    return Settings(
        host=_str("PHONEGRAPH_HOST", "127.0.0.1") or "127.0.0.1",
        port=_int("PHONEGRAPH_PORT", 8000),
        data_dir=data_dir,
        database_url=_sqlite_url_in_project(
            _str("PHONEGRAPH_DATABASE_URL", f"sqlite://{data_dir}/phonegraph.sqlite3") or ""
        ),
        redis_url=_str("PHONEGRAPH_REDIS_URL"),
        redis_channel=_str("PHONEGRAPH_REDIS_CHANNEL", "phonegraph:events") or "phonegraph:events",
        bootstrap_token=_str("PHONEGRAPH_BOOTSTRAP_TOKEN"),
        ftp_url=_str("PHONEGRAPH_FTP_URL"),
        secret_key=_str("PHONEGRAPH_SECRET_KEY"),
        deploy_concurrency=_positive_int("PHONEGRAPH_DEPLOY_CONCURRENCY", 32),
        phone_timeout=_float("PHONEGRAPH_PHONE_TIMEOUT", 120.0),
        restart_grace=_float("PHONEGRAPH_RESTART_GRACE", 10.0),
        options_interval=_float("PHONEGRAPH_OPTIONS_INTERVAL", 1.0),
        deploy_heartbeat=heartbeat,
        deploy_lease=lease,
        shutdown_grace=_non_negative_float("PHONEGRAPH_SHUTDOWN_GRACE", 30.0),
        wait_timeout=_float("PHONEGRAPH_WAIT_TIMEOUT", 300.0),
        max_query_depth=_int("PHONEGRAPH_MAX_QUERY_DEPTH", 12),
        max_aliases=_int("PHONEGRAPH_MAX_ALIASES", 30),
        max_tokens=_int("PHONEGRAPH_MAX_TOKENS", 5000),
        max_query_nodes=_positive_int("PHONEGRAPH_MAX_QUERY_NODES", 50_000),
        max_body_bytes=_int("PHONEGRAPH_MAX_BODY_BYTES", 1_000_000),
        max_list_items=_positive_int("PHONEGRAPH_MAX_LIST_ITEMS", 1000),
        max_subscriptions_per_connection=_int("PHONEGRAPH_MAX_SUBSCRIPTIONS", 20),
        token_recheck=_float("PHONEGRAPH_TOKEN_RECHECK", 2.0),
        ws_init_timeout=_float("PHONEGRAPH_WS_INIT_TIMEOUT", 60.0),
        metrics_token=_str("PHONEGRAPH_METRICS_TOKEN"),
        log_level=_str("PHONEGRAPH_LOG_LEVEL", "info") or "info",
        phone_networks=_networks("PHONEGRAPH_PHONE_NETWORKS"),
        trusted_proxies=_networks("PHONEGRAPH_TRUSTED_PROXIES") or (),
        pending_per_minute=_positive_int("PHONEGRAPH_PENDING_PER_MINUTE", 20),
        hotdesk_timeout=_float("PHONEGRAPH_HOTDESK_TIMEOUT", 43200.0),
        hotdesk_sweep_interval=min(10.0, _float("PHONEGRAPH_HOTDESK_SWEEP_INTERVAL", 5.0)),
        public_url=_str("PHONEGRAPH_PUBLIC_URL"),
        webhook_allow_private=_flag("PHONEGRAPH_WEBHOOK_ALLOW_PRIVATE"),
        webhook_retry_seconds=_float("PHONEGRAPH_WEBHOOK_RETRY_SECONDS", 30.0),
        webhook_delivery_days=_float("PHONEGRAPH_WEBHOOK_DELIVERY_DAYS", 30.0),
        presence_interval=_non_negative_float("PHONEGRAPH_PRESENCE_INTERVAL", 60.0),
        presence_concurrency=_positive_int("PHONEGRAPH_PRESENCE_CONCURRENCY", 200),
        config_revisions=_positive_int("PHONEGRAPH_CONFIG_REVISIONS", 20),
        audit_days=_float("PHONEGRAPH_AUDIT_DAYS", 365.0),
    )


_override: Settings | None = None


@lru_cache(maxsize=1)
def _cached() -> Settings:
    return load_settings()


def get_settings() -> Settings:
    """The settings in force (tests may install their own with :func:`use_settings`)."""
    return _override if _override is not None else _cached()


def use_settings(settings: Settings | None) -> None:
    """Install ``settings`` for this process (``None`` goes back to the environment)."""
    global _override
    _override = settings
    _cached.cache_clear()
