"""The contract's list messages (feature ``menus``) and the addon's reading of a customer's menu answer."""

from __future__ import annotations

import importlib.util

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from whatsapp_bridge import contract

from .helpers import ROOT


def _load_text_tools():
    # the addon's package imports Odoo: its pure-Python answer reader is loaded by path
    spec = importlib.util.spec_from_file_location("wa_text_tools", ROOT / "whatsapp_attendance" / "tools" / "text.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


text_tools = _load_text_tools()


def job(**extra):
    data = {"v": 1, "message_id": 7, "account": "106540352242922", "to": {"wa_id": "5511987654321"},
            "type": "interactive", "text": "Como podemos ajudar?", "buttons": None}
    data.update(extra)
    return data


def rows(count, **extra):
    return [dict({"id": f"menu:{n}", "title": f"Opção {n}"}, **extra) for n in range(1, count + 1)]


def error_of(payload):
    with pytest.raises(contract.ContractError) as caught:
        contract.validate_outbound_job(payload)
    return str(caught.value)


def test_features_announce_menus():
    assert "menus" in contract.CONTRACT_FEATURES


def test_a_list_of_up_to_ten_rows_is_accepted():
    contract.validate_outbound_job(job(list={"button": "Opções", "rows": rows(10, description="linha")}))
    contract.validate_outbound_job(job(list={"button": "Opções", "rows": rows(1)}))


def test_list_errors_name_the_field():
    assert error_of(job(list={"button": "Opções", "rows": rows(11)})).startswith("job.list.rows: at most 10")
    assert error_of(job(list={"button": "Opções", "rows": []})).startswith("job.list.rows: expected 1 to 10")
    assert "job.list.button" in error_of(job(list={"button": "x" * 21, "rows": rows(2)}))
    assert "job.list.rows[0].title: longer than 24" in error_of(job(list={"button": "Ok", "rows": [
        {"id": "menu:1", "title": "x" * 25}]}))
    assert "job.list.rows[1].description: longer than 72" in error_of(job(list={"button": "Ok", "rows": [
        {"id": "menu:1", "title": "a"}, {"id": "menu:2", "title": "b", "description": "d" * 73}]}))
    assert "job.list.rows[1].id: duplicate" in error_of(job(list={"button": "Ok", "rows": [
        {"id": "menu:1", "title": "a"}, {"id": "menu:1", "title": "b"}]}))
    assert "job.list.rows[1].title: duplicate" in error_of(job(list={"button": "Ok", "rows": [
        {"id": "menu:1", "title": "a"}, {"id": "menu:2", "title": "a"}]}))
    assert "not both" in error_of(job(buttons=[{"id": "b", "title": "B"}], list={"button": "Ok", "rows": rows(1)}))
    assert "only an interactive message" in error_of(job(type="text", list={"button": "Ok", "rows": rows(1)}))


def test_reply_buttons_are_still_one_to_three_with_unique_ids():
    contract.validate_outbound_job(job(buttons=[{"id": "a", "title": "A"}, {"id": "b", "title": "B"}]))
    assert "job.buttons" in error_of(job(buttons=[]))
    assert "job.buttons[1].id: duplicate" in error_of(job(buttons=[{"id": "a", "title": "A"},
                                                                   {"id": "a", "title": "B"}]))


# generation time depends on the machine's load (a CI run beside Odoo and Chromium): the property is the test
@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=30),
                    lambda children: st.lists(children, max_size=12) | st.dictionaries(
                        st.sampled_from(["button", "rows", "id", "title", "description", "x"]), children, max_size=5),
                    max_leaves=40))
def test_any_list_value_is_accepted_or_refused_with_a_contract_error(value):
    try:
        contract.validate_outbound_job(job(list=value))
    except contract.ContractError as error:
        # no list at all: an interactive message then needs its buttons
        assert error.path.startswith("job.list") or (value is None and error.path == "job.buttons")


# --------------------------------------------------------------------------
# the addon's reading of a menu answer (whatsapp_attendance/tools/text.py)
# --------------------------------------------------------------------------

PAIRS = [("a", "á"), ("a", "ã"), ("a", "â"), ("a", "A"), ("c", "ç"), ("c", "Ç"), ("e", "é"), ("e", "ê"),
         ("e", "E"), ("i", "í"), ("o", "ó"), ("o", "õ"), ("o", "Ô"), ("u", "ú"), ("u", "ü"), ("n", "ñ"),
         ("t", "T"), ("d", "d"), (" ", " "), (" ", "  ")]


@given(st.lists(st.sampled_from(PAIRS), min_size=1, max_size=30), st.sampled_from(["", " ", "!", ".", "?!", "  "]))
def test_names_match_whatever_the_case_accents_spacing_and_punctuation(pairs, tail):
    plain = "".join(p for p, _ in pairs)
    fancy = "".join(f for _, f in pairs) + tail
    assert text_tools.normalize_answer(fancy) == text_tools.normalize_answer(plain)


@given(st.text(max_size=50))
def test_normalizing_is_idempotent_and_never_fails(text):
    once = text_tools.normalize_answer(text)
    assert text_tools.normalize_answer(once) == once


@given(st.integers(0, 999), st.sampled_from(["", ".", ")", " ", "º"]), st.sampled_from(["", " ", "  "]))
def test_option_numbers_are_read_with_their_usual_punctuation(number, suffix, spaces):
    assert text_tools.answer_number(f"{spaces}{number}{suffix}{spaces}") == number


@given(st.text(alphabet="abcdefghijklmnopqrstuvwxyzçãé ", min_size=1, max_size=20))
def test_words_are_not_numbers(text):
    assert text_tools.answer_number(text) is None
