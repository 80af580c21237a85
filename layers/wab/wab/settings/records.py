"""The messages function's settings (the record API)."""

from typing import Literal

from wab.settings import Settings


class RecordSettings(Settings):
    provider_secret_arn: str | None = None
    summary_scope: Literal["all", "broadcasts"] = "all"  # said in every summary it answers (`wab.summary`)
