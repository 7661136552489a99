"""Settings for one Custodia deployment, read from ``CUSTODIA_*`` environment variables.

Nothing here is built at import time: ``create_app`` and the CLI construct a ``Settings``
explicitly so tests and commands can point at their own data directory.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_ALLOWED_MEDIA_TYPES: tuple[str, ...] = (
    "application/pdf",
    "image/jpeg",
    "image/png",
    "image/tiff",
    "audio/mpeg",
    "audio/ogg",
    "audio/wav",
    "audio/x-wav",
    "audio/mp4",
    "video/mp4",
    "text/plain",
)


class Settings(BaseSettings):
    """Deployment configuration; every field has a ``CUSTODIA_`` environment variable."""

    model_config = SettingsConfigDict(env_prefix="CUSTODIA_", extra="ignore")

    data_dir: Path = Path("data")
    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL; defaults to sqlite:///<data_dir>/custodia.db",
    )
    keyring_passphrase: SecretStr | None = None
    token_ttl_minutes: int = Field(default=8 * 60, ge=1)
    token_idle_minutes: int = Field(default=60, ge=1)
    max_attachment_bytes: int = Field(default=200 * 1024 * 1024, ge=1)
    allowed_media_types: tuple[str, ...] = DEFAULT_ALLOWED_MEDIA_TYPES
    login_slowdown_after: int = Field(default=3, ge=1)
    login_lock_after: int = Field(default=10, ge=2)
    login_lock_minutes: int = Field(default=15, ge=1)
    custody_origin: str = Field(
        default="custodia.example/custody",
        description="Checkpoint origin line and signing key name; unique per deployment",
        pattern=r"^[A-Za-z0-9][A-Za-z0-9._/-]{2,190}$",
    )
    search_backend: Literal["auto", "whoosh", "postgres"] = Field(
        default="auto",
        description="auto: Whoosh on SQLite, PostgreSQL tables on PostgreSQL",
    )
    checkpoint_every_events: int = Field(default=1000, ge=1)
    checkpoint_every_minutes: int = Field(default=60, ge=1)
    checkpoint_publish_dirs: tuple[Path, ...] = Field(
        default=(),
        description="Witness locations outside the database that receive every checkpoint",
    )
    request_body_limit_bytes: int = Field(default=8 * 1024 * 1024, ge=1024)
    export_ttl_hours: int = Field(
        default=72,
        ge=1,
        description="Hours a built export bag stays on the server before it is deleted",
    )
    draft_ttl_hours: int = Field(
        default=14 * 24,
        ge=1,
        description="Hours after its last save that an interview draft is deleted",
    )
    export_source_organization: str = Field(
        default="Custodia",
        max_length=200,
        description="Source-Organization written into every export bag's bag-info.txt",
    )
    shred_secrets_dir: Path | None = Field(
        default=None,
        description="Shred-secret store; defaults to <data_dir>/keys/shred. Keep it out of "
        "long-lived backups (docs/security.md)",
    )

    @field_validator("database_url")
    @classmethod
    def _reject_blank_url(cls, value: str | None) -> str | None:
        if value is not None and not value.strip():
            return None
        return value

    @property
    def resolved_data_dir(self) -> Path:
        return self.data_dir.expanduser().resolve()

    @property
    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.resolved_data_dir / 'custodia.db'}"

    @property
    def keyring_path(self) -> Path:
        return self.resolved_data_dir / "keys" / "keyring.json"

    @property
    def shred_secrets_path(self) -> Path:
        """Where per-record shred secrets live (see service.crypto.shred)."""
        if self.shred_secrets_dir is not None:
            return self.shred_secrets_dir.expanduser().resolve()
        return self.keyring_path.parent / "shred"

    @property
    def attachments_dir(self) -> Path:
        return self.resolved_data_dir / "attachments"

    @property
    def search_dir(self) -> Path:
        return self.resolved_data_dir / "search"

    @property
    def tmp_dir(self) -> Path:
        """Scratch space inside the data directory, so nothing lands in a shared /tmp."""
        return self.resolved_data_dir / "tmp"

    @property
    def passphrase(self) -> str | None:
        return self.keyring_passphrase.get_secret_value() if self.keyring_passphrase else None
