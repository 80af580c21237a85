"""What a message must pass before the provider is called, so that the provider never has to refuse it:
the template catalogue (`wab.catalogue`, under TemplatePolicy), the contacts' opt-outs (`wab.optouts`: marketing never
reaches a contact who opted out) and the 24-hour customer-service window (`wab.window`, under WindowPolicy).
"""

from typing import Literal

from wab import catalogue as templates
from wab.catalogue import Catalogue, TemplateSpec
from wab.models.commands import MessageCommand
from wab.models.outbound.template import TemplateContent
from wab.observability import count, logger
from wab.optouts import OptOuts
from wab.outcomes import Failure, window_failure
from wab.store import MessageStore
from wab.window import WindowPolicy, outside_window

TemplatePolicy = Literal["enforce", "warn", "off"]


class Screen:
    def __init__(
        self,
        store: MessageStore,
        catalogue: Catalogue,
        optouts: OptOuts,
        *,
        template_policy: TemplatePolicy,
        window_policy: WindowPolicy,
    ):
        self.store = store
        self.catalogue = catalogue
        self.optouts = optouts
        self.template_policy = template_policy
        self.window_policy = window_policy

    def template_problem(self, command: MessageCommand) -> Failure | None:
        return template_problem(self.catalogue, self.template_policy, command)

    def admit(self, command: MessageCommand, recipients: list[str]) -> tuple[list[str], list[Failure]]:
        """The recipients the message may go to, and a failure for each of the others."""
        problem = self.template_problem(command)
        if problem is not None:
            return [], [problem.model_copy(update={"destination": each}) for each in recipients]
        failures: list[Failure] = []
        if self._is_marketing(command):
            opted_out = self.optouts.opted_out(recipients)
            if opted_out:
                count("OptOutRefusals", len(opted_out))
            failures += [_opted_out(each) for each in recipients if each in opted_out]
            recipients = [each for each in recipients if each not in opted_out]
        if recipients:
            outside = outside_window(self.store, self.window_policy, command, recipients)
            failures += [window_failure(each) for each in recipients if each in outside]
            recipients = [each for each in recipients if each not in outside]
        return recipients, failures

    def _is_marketing(self, command: MessageCommand) -> bool:
        """Whether the command says so, or its template's catalogue entry does: a command calling a marketing template
        `utility` does not make it reach a contact who opted out."""
        if command.category == "marketing":
            return True
        if not isinstance(command.message, TemplateContent):
            return False
        template = command.message.template
        spec: TemplateSpec | None = self.catalogue.find(template.name, template.language.code)
        return spec is not None and spec.category == "marketing"


def template_problem(catalogue: Catalogue, policy: TemplatePolicy, command: MessageCommand) -> Failure | None:
    """The failure of a template send the catalogue says cannot work (None: send it). Under `warn` a mismatch is
    logged and counted, except a template WhatsApp itself refused, which fails under `warn` too."""
    if not isinstance(command.message, TemplateContent) or policy == "off":
        return None
    template = command.message.template
    spec = catalogue.find(template.name, template.language.code)
    problem = templates.check(template, spec)
    if problem is None:
        return None
    code, reason = problem
    rejected = spec is not None and spec.status == "rejected"
    if policy == "warn" and not rejected:
        if spec is not None or catalogue.knows_any():
            logger.warning("template send does not match the catalogue; sending anyway", extra={"problem": code})
            count("TemplateMismatches", code=code)
        return None
    return Failure(code=code, message=reason)


def _opted_out(destination: str) -> Failure:
    return Failure(
        destination=destination,
        code="opted_out",
        message="the contact opted out of marketing messages; utility and authentication templates still reach them",
    )
