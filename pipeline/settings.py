"""One typed settings object for every process (worker, exporter, CLI).

Every field is read from an environment variable named ``CG_<FIELD>`` (upper
case), e.g. ``CG_KAFKA_BOOTSTRAP=127.0.0.1:19092``. Defaults match the local
servers started by ``deploy/local/servers.sh`` so that a fresh clone works with
no configuration at all.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from schemas.decode import MAX_EVENTS_PER_RECORD

ENV_PREFIX = "CG_"
#: Production refuses shorter admin tokens: 32 random characters cannot be guessed
#: over HTTP, a short word can (``openssl rand -hex 32`` makes a good one).
MIN_PRODUCTION_TOKEN_LENGTH = 32


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore", frozen=True)

    mode: Literal["development", "production"] = "development"

    # --- Kafka -----------------------------------------------------------
    kafka_bootstrap: str = "127.0.0.1:19092"
    app_id: str = "customer-groups"
    topic_events: str = "cg.events"
    topic_definitions: str = "cg.definitions"
    topic_dead_letter: str = "cg.dead-letter"
    topic_partitions: int = Field(default=4, ge=1)
    topic_replication: int = Field(default=1, ge=1)

    # --- Redis -----------------------------------------------------------
    redis_url: str = "redis://127.0.0.1:16379/0"
    redis_prefix: str = Field(default="cg", pattern=r"^[A-Za-z0-9_.-]+$")

    # --- State and rules -------------------------------------------------
    table_store: str = "memory://"
    data_dir: Path = Path("var/worker")
    retention_days: int = Field(default=400, ge=1)
    shop_timezone: str = "Europe/London"
    currency: str = Field(default="GBP", pattern=r"^[A-Z]{3}$")
    rules_dir: Path = Path("rules_config")
    max_future_seconds: int = Field(default=3600, ge=0)
    #: The largest Kafka record on the events topic (one event or a batch), in bytes. The topics
    #: are created to accept it (pipeline.topics); a larger record is refused
    #: by the broker at produce time, one up to the topic's limit is dead-lettered.
    max_event_bytes: int = Field(default=1_048_576, ge=4096, le=8 * 1_048_576)
    #: The most events one record may hold when it is a batch (a JSON array of events).
    max_events_per_record: int = Field(default=MAX_EVENTS_PER_RECORD, ge=1, le=10_000)

    # --- Worker tuning ---------------------------------------------------
    #: How long the group waits for a silent worker before giving its partitions to the
    #: others (and a restarted worker waits to rejoin): the failover time after a crash.
    session_timeout_seconds: float = Field(default=30.0, ge=6, le=300)
    batch_size: int = Field(default=500, ge=1)
    batch_wait_seconds: float = Field(default=0.02, gt=0)
    recheck_interval_seconds: float = Field(default=1.0, gt=0)
    #: How often a worker checks that Redis still holds its partitions' state (sentinel
    #: keys) and rebuilds it from the profile table when Redis lost it.
    redis_check_seconds: float = Field(default=2.0, gt=0)
    #: Work failing for this long (Redis or Kafka away, a record that cannot be
    #: written) makes /healthz say "not ready" with the reason.
    stall_after_seconds: float = Field(default=30.0, gt=0)
    #: The event loop held this long (nothing woke: a long batch, a blocking call) makes
    #: the worker log its loop thread's stack, and again each time the hold has doubled.
    loop_stall_log_seconds: float = Field(default=0.5, gt=0)
    #: A stopping worker (SIGTERM, SIGINT) that has not exited after this long exits
    #: anyway, as a crash would: nothing is lost, its input is redelivered.
    shutdown_timeout_seconds: float = Field(default=30.0, gt=0)
    #: Profiles kept decoded in memory between batches (the ones saved last): decoding a
    #: stored profile costs more than folding an event into it. 0 turns the cache off.
    #: About 8 KB of memory each at the bench's 1M-event history (README, "Sizing"):
    #: 50,000 served 65% of the live phase's loads there, 10,000 only 32%.
    profile_cache_size: int = Field(default=50_000, ge=0)
    #: How profiles are stored and handed over: ``split`` (a small head document, behaviour
    #: apart: back-fills over scalar fields read the head alone) or ``whole`` (one document:
    #: the layout workers before the split one read; set it for a rolling update from them).
    profile_layout: Literal["split", "whole"] = "split"
    #: Run the worker process on uvloop (libuv) instead of asyncio's own event loop:
    #: Faust's cost per record is mostly event-loop work (docs/benchmarks.md).
    uvloop: bool = True
    #: Faust's stream iterator yields to the event loop before every message: a whole loop
    #: turn each. Streams yield every this many messages instead (1: Faust's own way);
    #: ``pipeline/stream/stream_yield.py`` says why and what it measured.
    stream_yield_every: int = Field(default=64, ge=1, le=10_000)
    #: The worker's garbage-collector thresholds (``gc.set_threshold``): Python's defaults
    #: (700, 10, 10) ran a full collection every few thousand events, each a pause of
    #: 0.2 s over the decoded profiles, about a quarter of the CPU (docs/benchmarks.md).
    #: Set as JSON, e.g. ``[700,10,10]`` for the defaults.
    gc_thresholds: tuple[int, int, int] = (50_000, 50, 1_000)
    #: After each batch, freeze what survived it (``gc.freeze``), so no collection walks the
    #: decoded profiles again (pauses of 0.1-0.3 s otherwise; ``pipeline/stream/collector.py``).
    gc_freeze_batches: bool = True
    #: With frozen batches, how often one full collection frees cyclic garbage that
    #: outlived its batch (``cg_gc_reclaimed_objects_total``); a pause of its own.
    gc_reclaim_seconds: float = Field(default=3600.0, gt=0)

    # --- Web / admin -----------------------------------------------------
    #: The address the worker's web server binds (``0.0.0.0`` in a container).
    web_host: str = "127.0.0.1"
    web_port: int = Field(default=6066, ge=1, le=65535)
    #: The URL the other workers reach this one at (routed explain requests, dry runs
    #: across workers) and the CLI asks: Faust's ``canonical_url``. Default:
    #: ``http://<web_host>:<web_port>``, with this machine's host name when web_host
    #: binds every interface (a pod's or a container's name is what the others resolve).
    web_advertised_url: str | None = None
    admin_token: str | None = None
    #: ``/metrics`` without a token (Prometheus scrapes it; it holds counts, no customer
    #: data). False puts it behind the admin token like every other route.
    metrics_public: bool = True

    # --- Exporter --------------------------------------------------------
    export_dir: Path = Path("exports")

    @field_validator("shop_timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value

    @model_validator(mode="after")
    def _production_needs_token(self) -> Settings:
        if self.mode != "production":
            return self
        if not self.admin_token:
            raise ValueError("CG_ADMIN_TOKEN must be set when CG_MODE=production")
        if len(self.admin_token) < MIN_PRODUCTION_TOKEN_LENGTH or self.admin_token.strip() != self.admin_token:
            raise ValueError(
                f"CG_ADMIN_TOKEN is too weak for CG_MODE=production: it has {len(self.admin_token)} "
                f"characters, at least {MIN_PRODUCTION_TOKEN_LENGTH} are needed, with no spaces at either end "
                "(make one with `openssl rand -hex 32`)")
        return self

    def as_env(self) -> dict[str, str]:
        """These settings as CG_* variables, to hand to another process (worker, exporter)."""
        return {f"{ENV_PREFIX}{name.upper()}": json.dumps(value) if isinstance(value, (list, tuple, dict)) else str(value)
                for name, value in self.model_dump().items() if value is not None}

    @property
    def advertised_url(self) -> str:
        """The URL other workers reach this one at (see ``web_advertised_url``)."""
        if self.web_advertised_url:
            return self.web_advertised_url.rstrip("/")
        host = self.web_host
        if host in ("0.0.0.0", "::", ""):
            import socket

            host = socket.gethostname()
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{self.web_port}"

    @property
    def split_profiles(self) -> bool:
        """Store and hand over profiles in the split layout (``profile_layout``)."""
        return self.profile_layout == "split"

    @property
    def kafka_url(self) -> str:
        """The broker list in Faust's URL form."""
        return ",".join(f"kafka://{host}" for host in self.kafka_bootstrap.split(","))


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once from the environment."""
    return Settings()
