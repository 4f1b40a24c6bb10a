"""Switch off every code path that could reach the network (model hubs, telemetry, analytics)."""

from __future__ import annotations

import os

__all__ = ["OFFLINE_ENV", "enforce_offline"]

OFFLINE_ENV = {
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "HF_DATASETS_OFFLINE": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "ANONYMIZED_TELEMETRY": "False",
    "GRADIO_ANALYTICS_ENABLED": "False",
    "TOKENIZERS_PARALLELISM": "false",
    "HF_HUB_DISABLE_PROGRESS_BARS": "1",
}


def enforce_offline() -> None:
    """Set the offline switches in this process before any third-party library is imported.

    TIKTOKEN_CACHE_DIR and NLTK_DATA are deliberately left unset: llama-index points them at its
    bundled caches only when they are unset (see STACK-NOTES).
    """
    os.environ.update(OFFLINE_ENV)
