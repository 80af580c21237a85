"""Template sends checked against the catalogue: every component kind, counted and typed, with a reason a person can
act on; and the deployed catalogue files themselves."""

import json

import pytest
from wab.catalogue import CATALOGUE_DIR, check, deployed, read_file
from wab.models.catalogue import TemplateSpec
from wab.models.outbound.template import Template

SPEC = TemplateSpec.model_validate(
    {
        "name": "order_shipped",
        "language": "en",
        "category": "utility",
        "header": {"format": "image"},
        "body": {"parameters": 2, "formats": ["text", "currency"]},
        "buttons": [{"type": "quick_reply"}, {"type": "url", "parameters": 1}],
    }
)
IMAGE = {"type": "image", "image": {"link": "https://example.com/box.png"}}
TEXT = {"type": "text", "text": "1042"}
PRICE = {"type": "currency", "currency": {"fallback_value": "$10", "code": "USD", "amount_1000": 10000}}
URL = {"type": "text", "text": "track/1042"}


def template(*components, name="order_shipped", language="en"):
    return Template.model_validate({"name": name, "language": {"code": language}, "components": list(components)})


def test_a_send_that_fits_every_component_passes():
    sent = template(
        {"type": "header", "parameters": [IMAGE]},
        {"type": "body", "parameters": [TEXT, PRICE]},
        {"type": "button", "sub_type": "url", "index": "1", "parameters": [URL]},
    )
    assert check(sent, SPEC) is None


@pytest.mark.parametrize(
    "components, reason",
    [
        (
            [
                {"type": "body", "parameters": [TEXT, PRICE]},
                {"type": "button", "sub_type": "url", "index": "1", "parameters": [URL]},
            ],
            "header: expected one image parameter, got none",
        ),
        (
            [
                {"type": "header", "parameters": [{"type": "video", "video": {"link": "https://x.test/v.mp4"}}]},
                {"type": "body", "parameters": [TEXT, PRICE]},
                {"type": "button", "sub_type": "url", "index": "1", "parameters": [URL]},
            ],
            "header: expected one image parameter, got video",
        ),
        (
            [
                {"type": "header", "parameters": [IMAGE]},
                {"type": "body", "parameters": [TEXT]},
                {"type": "button", "sub_type": "url", "index": "1", "parameters": [URL]},
            ],
            "body: expected 2 parameters, got 1",
        ),
        (
            [
                {"type": "header", "parameters": [IMAGE]},
                {"type": "body", "parameters": [TEXT, TEXT]},
                {"type": "button", "sub_type": "url", "index": "1", "parameters": [URL]},
            ],
            "body parameter 2: expected currency, got text",
        ),
        (
            [{"type": "header", "parameters": [IMAGE]}, {"type": "body", "parameters": [TEXT, PRICE]}],
            "button 1 (url): expected 1 parameter, got 0",
        ),
        (
            [
                {"type": "header", "parameters": [IMAGE]},
                {"type": "body", "parameters": [TEXT, PRICE]},
                {"type": "button", "sub_type": "url", "index": "1", "parameters": [URL]},
                {"type": "footer", "parameters": [TEXT]},
            ],
            "footer: the template has no such component",
        ),
        (
            [
                {"type": "header", "parameters": [IMAGE]},
                {"type": "body", "parameters": [TEXT, PRICE]},
                {
                    "type": "button",
                    "sub_type": "copy_code",
                    "index": "1",
                    "parameters": [{"type": "coupon_code", "coupon_code": "C"}],
                },
            ],
            "button 1: the template's is url, not copy_code",
        ),
    ],
)
def test_each_component_mismatch_says_which_and_what_was_expected(components, reason):
    assert check(template(*components), SPEC) == ("template_parameters", reason)


def test_an_authentication_template_s_code_button_is_sent_as_a_url_button():
    spec = TemplateSpec.model_validate(
        {
            "name": "login_code",
            "language": "en",
            "category": "authentication",
            "body": {"parameters": 1},
            "buttons": [{"type": "otp", "parameters": 1}],
        }
    )
    button = {"type": "button", "sub_type": "url", "index": 0, "parameters": [{"type": "text", "text": "123456"}]}
    assert check(template({"type": "body", "parameters": [TEXT]}, button, name="login_code"), spec) is None


def test_one_button_index_spelt_two_ways_is_one_part_given_twice():
    import pytest
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="components fill button 0 more than once"):
        template({"type": "button", "index": "0"}, {"type": "button", "index": " 00"})


def test_a_text_header_takes_its_one_text_parameter():
    spec = TemplateSpec(
        name="greeting", language="en", category="marketing", header={"format": "text", "parameters": 1}
    )
    assert check(template({"type": "header", "parameters": [TEXT]}, name="greeting"), spec) is None
    assert check(template(name="greeting"), spec) == (
        "template_parameters",
        "header: expected 1 text parameter, got none",
    )


def test_an_unknown_template_or_language_and_a_rejected_one_are_not_found():
    assert check(template(), None)[0] == "template_not_found"
    rejected = SPEC.model_copy(update={"status": "rejected"})
    code, reason = check(template({"type": "header", "parameters": [IMAGE]}), rejected)
    assert code == "template_not_found" and "refused by WhatsApp" in reason


def test_the_deployed_catalogue_files_validate():
    """`make test` refuses a catalogue file the gateway could not read at run time."""
    assert sorted(path.name for path in CATALOGUE_DIR.glob("*.json"))
    deployed.cache_clear()
    assert isinstance(deployed(), dict)


def test_a_catalogue_document_with_a_mistake_is_refused_with_the_reason():
    with pytest.raises(ValueError, match="category"):
        read_file(json.dumps({"templates": [{"name": "x", "language": "en", "category": "promo"}]}))
