"""Audit lines are bounded (issue 12, finding 3): what a caller chooses is cut, with a
digest and the original length, and a refused request's line is at most 1 KiB whatever
it carried, while lines of valid, allowed requests keep everything they had."""

from __future__ import annotations

import hashlib
import hmac
import json
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from keymgr.audit import SEALED, AuditEvent, AuditLog, FileSink, bounds, derive_audit_key, verify
from keymgr.audit.bounds import (
    CONTEXT_CUT_KEY,
    LINE_BYTES,
    MAX_DETAIL_BYTES,
    MAX_TEXT_BYTES,
    REFUSED_LINE_BYTES,
    bounded,
    cut,
    json_size,
    short,
)
from keymgr.server.validation import MAX_CONTEXT_ENTRIES, MAX_CONTEXT_TEXT, MAX_REQUEST_ID

AUDIT_KEY = derive_audit_key(b"\x22" * 32)
PRINCIPAL = "spiffe://keymgr/agent/" + "a" * 64  # the longest name the CA issues
NASTY = ["r", "\x01", "\U0001f511", '"', "\\", "\u202e"]  # 1, 6, 4, 2, 2, 3 bytes in JSON


def write(tmp_path: Path, *events: AuditEvent, key: bytes | None = AUDIT_KEY) -> list[bytes]:
    path = tmp_path / "audit.log"
    log = AuditLog([FileSink(path)], "node-with-a-long-id-01", lambda: key)
    for one in events:
        log.log(one)
    log.close()
    report = verify([path])
    assert report.ok, report.problems  # cut lines are ordinary chained lines
    return path.read_bytes().splitlines()


def refused(**fields: object) -> AuditEvent:
    base: dict[str, object] = {
        "principal": PRINCIPAL,
        "operation": "RequestSealMigration",  # the longest method name
        "result": "FAILED_PRECONDITION",  # the longest code name
        "latency_ms": 123456.789,
        "key_id": "0" * 32,
        "key_version": 2**31,
    }
    base.update(fields)
    return AuditEvent(**base)  # type: ignore[arg-type]


def test_valid_fields_are_written_as_they_are(tmp_path: Path) -> None:
    rid = "r" * MAX_REQUEST_ID  # the longest request id the API accepts
    (line,) = write(tmp_path, refused(request_id=rid, context={"tenant": "acme"}))
    record = json.loads(line)
    assert record["request_id"] == rid and record["principal"] == PRINCIPAL
    assert list(record["context"]) == ["tenant"]


def test_oversized_request_id_is_cut_to_a_digest_and_length(tmp_path: Path) -> None:
    rid = "r" * 1_000_000  # the reviewer's reproduction: 1 MB of audit per refused call
    (line,) = write(tmp_path, refused(request_id=rid, result="PERMISSION_DENIED"))
    assert len(line) <= REFUSED_LINE_BYTES
    written = json.loads(line)["request_id"]
    assert written == cut(rid)
    assert written.startswith("r" * 16)
    assert "1000000 bytes" in written
    assert hashlib.sha256(rid.encode()).hexdigest()[:16] in written


def test_reencrypt_with_two_huge_contexts_writes_one_summary(tmp_path: Path) -> None:
    # the reviewer's second reproduction: ReEncrypt, source and destination contexts of
    # 10,000 entries each (1.7 MB of audit per refused call before)
    context = {f"source.k{i:05d}": f"v{i}" for i in range(10_000)}
    context |= {f"destination.k{i:05d}": f"v{i}" for i in range(10_000)}
    first, second = write(tmp_path, refused(context=context), refused(context=dict(context)))
    assert len(first) <= REFUSED_LINE_BYTES
    summary = json.loads(first)["context"]
    assert list(summary) == [CONTEXT_CUT_KEY]
    assert summary[CONTEXT_CUT_KEY].startswith("20000 entries, ")
    assert "v9999" not in first.decode()
    # equal contexts correlate (an HMAC with the audit key, not a plain hash)
    assert json.loads(second)["context"] == summary
    body = json.dumps(context, sort_keys=True, separators=(",", ":")).encode()
    assert hmac.new(AUDIT_KEY, body, hashlib.sha256).hexdigest()[:16] in summary[CONTEXT_CUT_KEY]


def test_sealed_summary_has_no_digest(tmp_path: Path) -> None:
    context = {f"k{i}": "secret-value" for i in range(100)}
    (line,) = write(tmp_path, refused(context=context), key=None)
    size = len(json.dumps(context, separators=(",", ":")))  # of the context as JSON
    assert json.loads(line)["context"] == {CONTEXT_CUT_KEY: f"100 entries, {size} bytes"}


def test_long_context_key_names_are_cut_each_to_its_own_digest(tmp_path: Path) -> None:
    a, b = "k" * 1000 + "a", "k" * 1000 + "b"
    (line,) = write(tmp_path, refused(result="OK", context={a: "1", b: "2"}))
    context = json.loads(line)["context"]
    assert set(context) == {cut(a), cut(b)} and len(set(context.values())) == 2


def test_allowed_line_keeps_every_valid_context_entry(tmp_path: Path) -> None:
    # the most a valid request can carry: 64 entries, keys and values of 1024 characters
    context = {
        f"{i:02d}" + "\U0001f511" * (MAX_CONTEXT_TEXT - 2): "v" * MAX_CONTEXT_TEXT
        for i in range(MAX_CONTEXT_ENTRIES)
    }
    (line,) = write(tmp_path, refused(result="OK", context=context, detail="x" * 5000))
    assert len(line) <= LINE_BYTES
    written = json.loads(line)["context"]
    assert len(written) == MAX_CONTEXT_ENTRIES and CONTEXT_CUT_KEY not in written
    assert set(written) == {bounded(name) for name in context}


def test_refused_line_over_budget_summarizes_context_then_cuts_text(tmp_path: Path) -> None:
    valid_but_long = {f"{i:02d}" + "k" * 120: "v" for i in range(MAX_CONTEXT_ENTRIES)}
    rid = "\x01" * MAX_REQUEST_ID
    (line,) = write(tmp_path, refused(context=valid_but_long, request_id=rid, detail="d" * 500))
    assert len(line) <= REFUSED_LINE_BYTES
    record = json.loads(line)
    assert list(record["context"]) == [CONTEXT_CUT_KEY]
    assert record["request_id"] == cut(rid)  # 768 bytes of escapes as JSON: cut
    assert len(record["detail"]) == MAX_DETAIL_BYTES


def test_short_detail_counts_bytes_not_characters() -> None:
    assert short("no\nnewlines   here") == "no newlines here"
    text = short("\U0001f511" * 1000)
    assert json_size(text) <= MAX_DETAIL_BYTES and text.endswith("...")
    assert json_size(short("\x00" * 1000)) <= MAX_DETAIL_BYTES
    assert short("a" * 200) == "a" * 200 and short("a" * 201) == "a" * 197 + "..."


def test_bounded_keeps_valid_and_cuts_by_encoded_size() -> None:
    assert bounded("r" * MAX_TEXT_BYTES) == "r" * MAX_TEXT_BYTES
    assert bounded("é" * 64) == "é" * 64  # 128 bytes
    assert bounded("é" * 65) == cut("é" * 65)
    assert bounded('"' * 100) == cut('"' * 100)  # 200 bytes escaped
    assert json_size(cut("\x01" * 10**6)) < 160


# what protobuf hands over: valid Unicode, so no lone surrogates
chars = st.characters(exclude_categories=("Cs",))
texts = st.text(alphabet=st.sampled_from(NASTY) | chars, max_size=3000)


@settings(max_examples=300, deadline=None)
@given(
    request_id=texts,
    detail=texts,
    key_id=st.text(alphabet=chars, max_size=300),
    principal=st.sampled_from([PRINCIPAL, ""]) | texts,
    context=st.dictionaries(texts, st.text(alphabet=chars, max_size=50), max_size=80),
    result=st.sampled_from(["PERMISSION_DENIED", "INVALID_ARGUMENT", "FAILED_PRECONDITION"]),
)
def test_any_refused_request_is_at_most_one_kib(
    tmp_path_factory: object,
    request_id: str,
    detail: str,
    key_id: str,
    principal: str,
    context: dict[str, str],
    result: str,
) -> None:
    path = tmp_path_factory.mktemp("bound")  # type: ignore[attr-defined]
    events = [
        refused(
            request_id=request_id,
            detail=detail,
            key_id=key_id,
            principal=principal,
            context=context,
            result=r,
        )
        for r in (result, result)
    ]
    for key in (AUDIT_KEY, None):
        for line in write(path, *events, key=key):
            assert len(line) <= REFUSED_LINE_BYTES
            record = json.loads(line)
            if key is None:
                assert (
                    set(record["context"].values()) <= {SEALED}
                    or CONTEXT_CUT_KEY in record["context"]
                )
        (path / "audit.log").unlink()


def test_a_batch_line_names_every_success_and_caps_failures() -> None:
    oks = [f"{i:032x}:1:OK" for i in range(300)]
    denied = [f"{i:032x}:1:PERMISSION_DENIED" for i in range(1000)]
    kept = bounds.batch_entries(oks + denied)
    assert kept[:300] == oks  # every item that succeeded is named
    failures = kept[300:]
    assert failures[-1].startswith("<cut>:") and "failed items sha256:" in failures[-1]
    named = len(failures) - 1
    assert int(failures[-1].split(":")[1].split()[0]) == 1000 - named
    assert sum(len(e) + 3 for e in failures) <= bounds.REFUSED_LINE_BYTES // 2 + 120
    # a caller with no grant: about one refused line's worth, whatever the batch
    only_denied = bounds.batch_entries(denied)
    assert sum(len(e) + 3 for e in only_denied) <= bounds.REFUSED_LINE_BYTES // 2 + 120
    # short lists pass unchanged; runs count as their items
    assert bounds.batch_entries(["-:-:NOT_FOUND*1000"]) == ["-:-:NOT_FOUND*1000"]
    many_runs = [f"{i:032x}:1:NOT_FOUND*2" for i in range(100)]
    assert (
        bounds.batch_entries(many_runs)[-1]
        .split()[0]
        .endswith(str(2 * (100 - (len(bounds.batch_entries(many_runs)) - 1))))
    )
