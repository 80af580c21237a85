"""Interactive messages: reply buttons, a list, a URL button, a WhatsApp Flow."""

from typing import Annotated, Any, Literal

from pydantic import Field, StringConstraints, model_validator

from wab.models.outbound import Content, Label, NotBlank
from wab.models.types import OpenModel, StrictModel

MAX_LIST_ROWS = 10  # WhatsApp: across all of a list's sections


class InteractiveText(StrictModel):
    text: Annotated[str, StringConstraints(min_length=1, max_length=1024), NotBlank]


class InteractiveFooter(StrictModel):
    text: Annotated[str, StringConstraints(min_length=1, max_length=60), NotBlank]


class InteractiveHeader(OpenModel):
    type: Literal["text", "image", "video", "document"]


class ReplyButtonTitle(StrictModel):
    id: Label
    title: Annotated[str, StringConstraints(min_length=1, max_length=20), NotBlank]


class ReplyButton(StrictModel):
    type: Literal["reply"] = "reply"
    reply: ReplyButtonTitle


class ButtonAction(StrictModel):
    buttons: Annotated[list[ReplyButton], Field(min_length=1, max_length=3)]

    @model_validator(mode="after")
    def buttons_told_apart(self) -> "ButtonAction":
        """WhatsApp refuses two buttons with one id or one title: the customer's tap could not be told apart."""
        for part in ("id", "title"):
            if _repeated([getattr(button.reply, part) for button in self.buttons]):
                raise ValueError(f"two buttons have the same {part}")
        return self


class ListRow(StrictModel):
    id: Annotated[str, StringConstraints(min_length=1, max_length=200), NotBlank]
    title: Annotated[str, StringConstraints(min_length=1, max_length=24), NotBlank]
    description: Annotated[str, StringConstraints(max_length=72)] | None = None


class ListSection(StrictModel):
    title: Annotated[str, StringConstraints(min_length=1, max_length=24), NotBlank] | None = None
    rows: Annotated[list[ListRow], Field(min_length=1, max_length=MAX_LIST_ROWS)]


class ListAction(StrictModel):
    button: Annotated[str, StringConstraints(min_length=1, max_length=20), NotBlank]
    sections: Annotated[list[ListSection], Field(min_length=1, max_length=10)]

    @model_validator(mode="after")
    def rows_as_whatsapp_takes_them(self) -> "ListAction":
        """WhatsApp's rules across sections: at most 10 rows in all, each row's id its own, and a title on every
        section when there are several (the customer sees them as headings)."""
        rows = [row for section in self.sections for row in section.rows]
        if len(rows) > MAX_LIST_ROWS:
            raise ValueError(f"a list has at most {MAX_LIST_ROWS} rows across its sections, not {len(rows)}")
        if _repeated([row.id for row in rows]):
            raise ValueError("two rows have the same id")
        if len(self.sections) > 1 and any(section.title is None for section in self.sections):
            raise ValueError("every section needs a title when a list has more than one")
        return self


def _repeated(values: list[str]) -> bool:
    return len(set(values)) < len(values)


class InteractiveParts(StrictModel):
    """What every interactive message has around its action."""

    header: InteractiveHeader | None = None
    body: InteractiveText
    footer: InteractiveFooter | None = None


class ButtonInteractive(InteractiveParts):
    type: Literal["button"]
    action: ButtonAction


class ListInteractive(InteractiveParts):
    type: Literal["list"]
    action: ListAction


class CtaUrlParameters(StrictModel):
    display_text: Annotated[str, StringConstraints(min_length=1, max_length=20), NotBlank]
    url: Annotated[str, StringConstraints(pattern=r"^https?://[^\s]+$", max_length=2000)]


class CtaUrlAction(StrictModel):
    name: Literal["cta_url"]
    parameters: CtaUrlParameters


class CtaUrlInteractive(InteractiveParts):
    """A button that opens a URL."""

    type: Literal["cta_url"]
    action: CtaUrlAction


class FlowActionPayload(StrictModel):
    screen: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    data: Annotated[dict[str, Any], Field(min_length=1)] | None = None  # the first screen's input: never empty


class FlowParameters(StrictModel):
    flow_message_version: Literal["3"] = "3"
    flow_token: Annotated[str, StringConstraints(min_length=1, max_length=1000)] | None = None
    flow_id: Label | None = None
    flow_name: Label | None = None
    flow_cta: Annotated[str, StringConstraints(min_length=1, max_length=20), NotBlank]
    mode: Literal["draft", "published"] | None = None
    flow_action: Literal["navigate", "data_exchange"] | None = None
    flow_action_payload: FlowActionPayload | None = None

    @model_validator(mode="after")
    def names_one_flow_and_fits_its_action(self) -> "FlowParameters":
        if (self.flow_id is None) == (self.flow_name is None):
            raise ValueError("give exactly one of flow_id and flow_name")
        if self.flow_action == "navigate" and self.flow_action_payload is None:
            raise ValueError("flow_action navigate needs flow_action_payload (its first screen)")
        if self.flow_action == "data_exchange" and self.flow_action_payload is not None:
            raise ValueError("flow_action data_exchange takes no flow_action_payload")
        return self


class FlowAction(StrictModel):
    name: Literal["flow"]
    parameters: FlowParameters


class FlowInteractive(InteractiveParts):
    """A WhatsApp Flow: a button that opens the flow's screens."""

    type: Literal["flow"]
    action: FlowAction


Interactive = Annotated[
    ButtonInteractive | ListInteractive | CtaUrlInteractive | FlowInteractive, Field(discriminator="type")
]


class InteractiveContent(Content):
    type: Literal["interactive"]
    interactive: Interactive
