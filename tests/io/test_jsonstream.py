"""The streaming JSON reader (resilient_stack.io.jsonstream) on its own: what the auditor's readers rely on. The
CLI-level cases (sizes, pipes, fuzzing) are in tests/hostile."""

from __future__ import annotations

import json

import pytest

from resilient_stack.io.jsonstream import DuplicateKey, StreamError, first_duplicate, is_not_array, loads, stream_object


def collect(doc: bytes, path: tuple[str, ...] = ("deployment", "resources")) -> tuple[dict, list]:
    seen: list = []
    envelope = stream_object(doc, {path: seen.append})
    return envelope, seen


def test_each_element_of_a_streamed_array_goes_to_its_callback_and_the_envelope_keeps_the_rest():
    resources = [{"urn": f"urn:{i}", "type": "t", "inputs": {"n": i, "s": "é"}} for i in range(5)]
    doc = json.dumps({"version": 3, "deployment": {"manifest": {"time": "x"}, "resources": resources}}).encode()
    envelope, seen = collect(doc)
    assert seen == resources
    assert envelope == {"version": 3, "deployment": {"manifest": {"time": "x"}, "resources": None}}


def test_two_streamed_paths_each_get_their_own_elements():
    steps, resources = [], []
    doc = b'{"steps": [1, 2], "deployment": {"resources": [3]}, "other": [4]}'
    out = stream_object(doc, {("steps",): steps.append, ("deployment", "resources"): resources.append})
    assert (steps, resources, out["other"]) == ([1, 2], [3], [4])


@pytest.mark.parametrize(
    "doc, line",
    [
        (b'{"version": 3,\n "version": 4}', 2),  # in the envelope
        (b'{"deployment": {"resources": [\n{"urn": "a", "type": "x",\n "type": "y"}]}}', 3),  # in an element
        (b'{"deployment": {"resources": [{"inputs": {"a": {"b": 1,\n\n "b": 2}}}]}}', 3),  # nested deep
    ],
)
def test_a_duplicate_key_anywhere_is_refused_with_its_line(doc, line):
    with pytest.raises(DuplicateKey) as exc:
        collect(doc)
    assert f"line {line}" in str(exc.value)


def test_a_duplicate_spelled_with_an_escape_is_still_a_duplicate():
    doc = b'{"deployment": {"resources": [{"type": "Instance", "\\u0074ype": "Network"}]}}'
    with pytest.raises(DuplicateKey, match="type"):
        collect(doc)


def test_equal_values_spelled_differently_are_not_taken_for_a_duplicate():
    doc = b'{"deployment": {"resources": [{"a": "\\u0041", "n": 1.0e0, "m": 10}]}}'
    _, seen = collect(doc)
    assert seen == [{"a": "A", "n": 1.0, "m": 10}]


@pytest.mark.parametrize("doc", [b'{"a": 1,}', b'{"a": [1, 2}', b'{"a": tru}', b"", b"   "])
def test_malformed_json_is_a_stream_error_with_where(doc):
    with pytest.raises(StreamError) as exc:
        loads(doc)
    assert "line" in str(exc.value) or "char" in str(exc.value)


def test_the_line_of_an_error_is_read_from_the_original_text_not_the_compacted_one():
    original = b'{\n  "deployment": {\n    "resources": [\n      {"a": 1, "a": 2}\n    ]\n  }\n}\n'
    box = [original]
    with pytest.raises(DuplicateKey) as exc:
        stream_object(box, {("deployment", "resources"): lambda _: None}, reread=lambda: original)
    assert "line 4" in str(exc.value)
    assert box == []  # the caller's copy was handed over: the file is held once


def test_a_streamed_path_that_is_not_an_array_reaches_the_callback_wrapped():
    envelope, seen = collect(b'{"deployment": {"resources": {"not": "a list"}}}')
    assert len(seen) == 1 and is_not_array(seen[0]) and envelope["deployment"]["resources"] is None
    assert not is_not_array({"not": "a list"})


def test_a_byte_order_mark_is_skipped_and_strings_are_read():
    assert loads(b"\xef\xbb\xbf" + b'{"a": [1]}') == {"a": [1]}
    assert loads('{"é": "ü"}') == {"é": "ü"}


def test_absurd_nesting_is_let_through_as_recursion_error_for_the_caller_to_refuse():
    deep = b"[" * 100_000 + b"]" * 100_000
    with pytest.raises((RecursionError, StreamError)):
        loads(b'{"a": ' + deep + b"}")


def test_first_duplicate_names_the_key_and_its_offset():
    text = b'{"x": {"k": 1, "k": 2}}'
    key, pos = first_duplicate(text)
    assert key == "k" and text[pos : pos + 3] == b'"k"' and pos > text.index(b'"k"')
    assert first_duplicate(b'{"x": {"k": 1}, "y": {"k": 2}}') is None
