"""The OData $batch codec: wire shapes, round trips, hostile input and speed."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from crmsync.odata.batch import (
    BatchFormatError,
    BatchRequest,
    BatchResponse,
    ChangeSet,
    ChangeSetResponse,
    decode_requests,
    decode_responses,
    encode_requests,
    encode_responses,
)

# A request body as the Dataverse documentation shows it (LF line ends, typed by hand).
DOC_REQUEST = b"""--batch_AAA123
Content-Type: multipart/mixed; boundary="changeset_BBB456"

--changeset_BBB456
Content-Type: application/http
Content-Transfer-Encoding:binary
Content-ID: 1

POST https://org.example/api/data/v9.2/tasks HTTP/1.1
Content-Type: application/json; type=entry

{"subject":"Task 1 in batch"}
--changeset_BBB456
Content-Type: application/http
Content-Transfer-Encoding:binary
Content-ID: 2

PATCH $1 HTTP/1.1
Content-Type: application/json; type=entry

{"subject":"renamed"}
--changeset_BBB456--

--batch_AAA123
Content-Type: application/http
Content-Transfer-Encoding:binary

GET https://org.example/api/data/v9.2/tasks?$select=subject HTTP/1.1
Accept: application/json

--batch_AAA123--
"""
DOC_CONTENT_TYPE = 'multipart/mixed; boundary="batch_AAA123"'


def test_decodes_the_documented_request_with_lf_line_ends() -> None:
    items = decode_requests(DOC_REQUEST, DOC_CONTENT_TYPE)
    assert len(items) == 2
    changeset, get = items
    assert isinstance(changeset, ChangeSet)
    first, second = changeset.requests
    assert first.method == "POST"
    assert first.url == "https://org.example/api/data/v9.2/tasks"
    assert first.headers == {"content-type": "application/json; type=entry"}
    assert first.body == b'{"subject":"Task 1 in batch"}'
    assert first.content_id == "1"
    assert (second.method, second.url, second.content_id) == ("PATCH", "$1", "2")
    assert isinstance(get, BatchRequest)
    assert get.method == "GET"
    assert get.url.endswith("tasks?$select=subject")
    assert get.headers == {"accept": "application/json"}
    assert get.body == b""
    assert get.content_id is None


def test_decodes_crlf_request_and_unquoted_boundary() -> None:
    body = DOC_REQUEST.replace(b"\n", b"\r\n")
    items = decode_requests(body, "Multipart/Mixed;boundary=batch_AAA123")
    assert isinstance(items[0], ChangeSet)
    assert items[0].requests[0].body == b'{"subject":"Task 1 in batch"}'


def test_encoded_request_has_the_documented_framing() -> None:
    body, content_type = encode_requests(
        [
            ChangeSet(
                [BatchRequest("post", "contacts", {"Content-Type": "application/json"}, b"{}", "1")]
            ),
            BatchRequest("GET", "contacts?$top=1", {"Accept": "application/json"}),
        ],
        boundary="batch_x1",
    )
    assert content_type == 'multipart/mixed; boundary="batch_x1"'
    assert body.startswith(b"--batch_x1\r\n")
    assert body.endswith(b"--batch_x1--\r\n")
    assert b"\r\nContent-Type: multipart/mixed; boundary=changeset_" in body
    assert b"Content-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n" in body
    assert b"Content-ID: 1\r\n\r\nPOST contacts HTTP/1.1\r\n" in body
    assert (
        b"GET contacts?$top=1 HTTP/1.1\r\nAccept: application/json\r\n\r\n\r\n--batch_x1--" in body
    )
    assert b"\n" not in body.replace(b"\r\n", b"")


def test_encoded_response_has_status_lines_and_echoed_content_ids() -> None:
    body, content_type = encode_responses(
        [
            ChangeSetResponse(
                [BatchResponse(204, {"OData-EntityId": "https://o/api/data/v9.2/a(1)"}, b"", "1")]
            ),
            BatchResponse(200, {"Content-Type": "application/json"}, b'{"value":[]}'),
        ],
        boundary="batchresponse_b1",
    )
    assert content_type == "multipart/mixed; boundary=batchresponse_b1"
    assert b"boundary=changesetresponse_" in body
    assert b"Content-ID: 1\r\n\r\nHTTP/1.1 204 No Content\r\nOData-EntityId: " in body
    assert b"HTTP/1.1 200 OK\r\n" in body
    decoded = decode_responses(body, content_type)
    assert isinstance(decoded[0], ChangeSetResponse)
    assert decoded[0].responses[0].status == 204
    assert decoded[0].responses[0].content_id == "1"
    assert decoded[0].responses[0].headers["odata-entityid"].endswith("a(1)")
    assert decoded[1] == BatchResponse(200, {"content-type": "application/json"}, b'{"value":[]}')


def test_decodes_a_dataverse_style_response() -> None:
    body = (
        b"--batchresponse_c1\r\n"
        b"Content-Type: multipart/mixed; boundary=changesetresponse_ff\r\n\r\n"
        b"--changesetresponse_ff\r\nContent-Type: application/http\r\n"
        b"Content-Transfer-Encoding: binary\r\nContent-ID: 1\r\n\r\n"
        b"HTTP/1.1 204 No Content\r\nOData-Version: 4.0\r\n"
        b"OData-EntityId: https://o/api/data/v9.2/tasks(a5)\r\n\r\n\r\n"
        b"--changesetresponse_ff--\r\n"
        b"--batchresponse_c1\r\nContent-Type: application/http\r\n"
        b"Content-Transfer-Encoding: binary\r\n\r\n"
        b"HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\n\r\n"
        b'{"error":{"code":"0x0","message":"bad"}}\r\n'
        b"--batchresponse_c1--\r\n"
    )
    first, second = decode_responses(body, "multipart/mixed; boundary=batchresponse_c1")
    assert isinstance(first, ChangeSetResponse)
    assert first.responses == [
        BatchResponse(
            204,
            {"odata-version": "4.0", "odata-entityid": "https://o/api/data/v9.2/tasks(a5)"},
            b"",
            "1",
        )
    ]
    assert second == BatchResponse(
        400, {"content-type": "application/json"}, b'{"error":{"code":"0x0","message":"bad"}}'
    )


_names = st.from_regex(r"[A-Za-z][A-Za-z0-9-]{0,15}", fullmatch=True).filter(
    lambda n: n.lower() != "content-id"
)
_values = st.text(
    st.characters(min_codepoint=0x21, max_codepoint=0x2FF, exclude_characters="\r\n"),
    max_size=30,
).map(str.strip)
_headers = st.dictionaries(_names.map(str.lower), _values, max_size=4)
_ids = st.none() | st.from_regex(r"[0-9A-Za-z]{1,6}", fullmatch=True)
_requests = st.builds(
    BatchRequest,
    method=st.sampled_from(["GET", "POST", "PATCH", "DELETE", "PUT"]),
    url=st.from_regex(r"[A-Za-z0-9$/()?=&'._-]{1,40}", fullmatch=True),
    headers=_headers,
    body=st.binary(max_size=200),
    content_id=_ids,
)
_responses = st.builds(
    BatchResponse,
    status=st.integers(100, 599),
    headers=_headers,
    body=st.binary(max_size=200),
    content_id=_ids,
)


@given(st.lists(_requests | st.lists(_requests, max_size=4).map(ChangeSet)))
def test_requests_round_trip(items: list[BatchRequest | ChangeSet]) -> None:
    body, content_type = encode_requests(items)
    assert decode_requests(body, content_type) == items


@given(st.lists(_responses | st.lists(_responses, max_size=4).map(ChangeSetResponse)))
def test_responses_round_trip(items: list[BatchResponse | ChangeSetResponse]) -> None:
    body, content_type = encode_responses(items)
    assert decode_responses(body, content_type) == items


def test_bodies_with_line_breaks_and_binary_survive() -> None:
    tricky = b"\r\n\r\nline\n\n\r\x00\xff--not-a-boundary\r\n"
    body, content_type = encode_requests([BatchRequest("POST", "x", {}, tricky)])
    (decoded,) = decode_requests(body, content_type)
    assert isinstance(decoded, BatchRequest)
    assert decoded.body == tricky


@pytest.mark.parametrize(
    ("body", "content_type", "message"),
    [
        (b"--b--\r\n", "application/json", "expected Content-Type multipart/mixed"),
        (b"--b--\r\n", "multipart/mixed", "no boundary parameter"),
        (b"--b--\r\n", 'multipart/mixed; boundary=""', "invalid multipart boundary"),
        (b"hello", "multipart/mixed; boundary=b", "no delimiter line --b"),
        (
            b"--b\r\nContent-Type: application/http\r\n\r\nGET x HTTP/1.1\r\n",
            "multipart/mixed; boundary=b",
            "truncated",
        ),
        (
            b"--b\r\nContent-Type: application/http\r\n--b--",
            "multipart/mixed; boundary=b",
            "part 1 of the batch: no blank line after the part headers",
        ),
        (
            b"--b\r\nContent-Transfer-Encoding: binary\r\n\r\nGET x HTTP/1.1\r\n--b--",
            "multipart/mixed; boundary=b",
            "no Content-Type header",
        ),
        (
            b"--b\r\nContent-Type: text/plain\r\n\r\nhi\r\n--b--",
            "multipart/mixed; boundary=b",
            "must be application/http or multipart/mixed",
        ),
        (
            b"--b\r\nContent-Type: application/http\r\nContent-Transfer-Encoding: base64\r\n\r\n"
            b"R0VU\r\n--b--",
            "multipart/mixed; boundary=b",
            "unsupported Content-Transfer-Encoding",
        ),
        (
            b"--b\r\nContent-Type: application/http\r\n\r\nGET\r\n--b--",
            "multipart/mixed; boundary=b",
            "malformed request line",
        ),
        (
            b"--b\r\nContent-Type: application/http\r\n\r\nGET x FTP/1\r\n--b--",
            "multipart/mixed; boundary=b",
            "does not end with HTTP/x.y",
        ),
        (
            b"--b\r\nContent-Type: application/http\r\n\r\n\r\n--b--",
            "multipart/mixed; boundary=b",
            "holds no HTTP message",
        ),
        (
            b"--b\r\nContent-Type: application/http\r\n\r\nGET x HTTP/1.1\r\nno colon\r\n\r\n"
            b"\r\n--b--",
            "multipart/mixed; boundary=b",
            "part 1 of the batch: malformed header line 'no colon'",
        ),
        (
            b"--b\r\nContent-Type: application/http\r\n\r\nGET x HTTP/1.1\r\nX: \xff\r\n\r\n"
            b"\r\n--b--",
            "multipart/mixed; boundary=b",
            "not valid UTF-8",
        ),
        (
            b"--b\r\nContent-Type: multipart/mixed; boundary=c\r\n\r\n"
            b"--c\r\nContent-Type: multipart/mixed; boundary=d\r\n\r\n--d--\r\n--c--\r\n--b--",
            "multipart/mixed; boundary=b",
            "part 1 of the change set in part 1 of the batch: change sets cannot be nested",
        ),
        (
            b"--b\r\nContent-Type: multipart/mixed; boundary=c\r\n\r\n--c\r\n\r\n--b--",
            "multipart/mixed; boundary=b",
            "change set in part 1 of the batch is truncated",
        ),
    ],
)
def test_malformed_requests_are_refused_with_a_clear_message(
    body: bytes, content_type: str, message: str
) -> None:
    with pytest.raises(BatchFormatError, match=message.replace("$", r"\$")):
        decode_requests(body, content_type)


def test_malformed_status_line_is_refused() -> None:
    body = b"--b\r\nContent-Type: application/http\r\n\r\nHTTP/1.1 OK\r\n\r\n\r\n--b--"
    with pytest.raises(BatchFormatError, match="malformed status line"):
        decode_responses(body, "multipart/mixed; boundary=b")


def test_part_limit_is_enforced() -> None:
    body, content_type = encode_requests([BatchRequest("GET", "x")] * 11)
    assert len(decode_requests(body, content_type, max_parts=11)) == 11
    with pytest.raises(BatchFormatError, match="part 11 of the batch is beyond the limit of 10"):
        decode_requests(body, content_type, max_parts=10)
    changeset_body, changeset_type = encode_requests([ChangeSet([BatchRequest("GET", "x")] * 6)])
    with pytest.raises(BatchFormatError, match=r"part 6 of the change set .* limit of 5"):
        decode_requests(changeset_body, changeset_type, max_parts=5)


@pytest.mark.parametrize(
    ("item", "message"),
    [
        (BatchRequest("GE T", "x"), "invalid HTTP method"),
        (BatchRequest("GET", "a b"), "invalid request URL"),
        (BatchRequest("GET", "x", {"Bad Name": "v"}), "invalid header name"),
        (BatchRequest("GET", "x", {"X": "a\r\nInjected: 1"}), "line break in its value"),
        (BatchRequest("POST", "x", {}, b"\r\n--batch_fixed\r\n"), "contains the boundary"),
    ],
)
def test_encoding_refuses_values_that_would_break_the_framing(
    item: BatchRequest, message: str
) -> None:
    with pytest.raises(BatchFormatError, match=message):
        encode_requests([item], boundary="batch_fixed")


def test_encoding_refuses_bad_boundary_and_status() -> None:
    with pytest.raises(BatchFormatError, match="invalid multipart boundary"):
        encode_requests([], boundary="bad\r\nboundary")
    with pytest.raises(BatchFormatError, match="invalid HTTP status"):
        encode_responses([BatchResponse(42, {})])


def test_a_thousand_parts_round_trip() -> None:
    requests = [
        BatchRequest(
            "POST",
            "contacts",
            {"Content-Type": "application/json; type=entry"},
            b'{"firstname":"Ann","lastname":"Lee"}',
            str(i),
        )
        for i in range(1000)
    ]
    responses = [BatchResponse(204, {"OData-EntityId": f"contacts({i})"}) for i in range(1000)]
    body, content_type = encode_requests([ChangeSet(requests)])
    decoded = decode_requests(body, content_type)
    rbody, rtype = encode_responses(responses)
    decoded_responses = decode_responses(rbody, rtype)
    assert isinstance(decoded[0], ChangeSet)
    assert [r.content_id for r in decoded[0].requests] == [str(i) for i in range(1000)]
    assert [r.headers["odata-entityid"] for r in decoded_responses] == [
        f"contacts({i})" for i in range(1000)
    ]
