"""Interactive messages: reply buttons, a list, a URL button, a WhatsApp Flow."""

from typing import Annotated, Any, Literal

from pydantic import Field, StringConstraints, model_validator

from wab.models.outbound import Content, Label
from wab.models.types import OpenModel, StrictModel


class InteractiveText(StrictModel):
    text: Annotated[str, StringConstraints(min_length=1, max_length=1024)]


class InteractiveFooter(StrictModel):
    text: Annotated[str, StringConstraints(min_length=1, max_length=60)]


class InteractiveHeader(OpenModel):
    type: Literal["text", "image", "video", "document"]


class ReplyButtonTitle(StrictModel):
    id: Label
    title: Annotated[str, StringConstraints(min_length=1, max_length=20)]


class ReplyButton(StrictModel):
    type: Literal["reply"] = "reply"
    reply: ReplyButtonTitle


class ButtonAction(StrictModel):
    buttons: Annotated[list[ReplyButton], Field(min_length=1, max_length=3)]


class ListRow(StrictModel):
    id: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    title: Annotated[str, StringConstraints(min_length=1, max_length=24)]
    description: Annotated[str, StringConstraints(max_length=72)] | None = None


class ListSection(StrictModel):
    title: Annotated[str, StringConstraints(max_length=24)] | None = None
    rows: Annotated[list[ListRow], Field(min_length=1, max_length=10)]


class ListAction(StrictModel):
    button: Annotated[str, StringConstraints(min_length=1, max_length=20)]
    sections: Annotated[list[ListSection], Field(min_length=1, max_length=10)]


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
    display_text: Annotated[str, StringConstraints(min_length=1, max_length=20)]
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
    flow_cta: Annotated[str, StringConstraints(min_length=1, max_length=20)]
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
