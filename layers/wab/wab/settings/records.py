"""The messages function's settings (the record API)."""

from wab.settings import Settings, SummaryScope


class RecordSettings(Settings):
    provider_secret_arn: str | None = None
    summary_scope: SummaryScope = "all"  # said in every summary it answers (`wab.summary`)
