from __future__ import annotations

import json
import logging

from integrations.crypto import Secret
from regscan_site.logging import JsonLinesFormatter, RedactSecretsFilter, redact


def _emit(msg: str, *args, exc: BaseException | None = None, fmt=None) -> str:
    record = logging.LogRecord("t", logging.ERROR, __file__, 1, msg, args, None)
    if exc is not None:
        record.exc_info = (type(exc), exc, exc.__traceback__)
    RedactSecretsFilter().filter(record)
    return (fmt or logging.Formatter("%(message)s")).format(record)


def test_registered_secrets_are_masked_everywhere():
    secret = Secret("hunter2-very-secret")
    assert str(secret) == repr(secret) == "Secret('***')"
    out = _emit("token is %s", secret.reveal())
    assert "hunter2" not in out and "***" in out


def test_secrets_in_exceptions_are_masked():
    secret = Secret("s3cr3t-in-traceback")
    try:
        raise RuntimeError(f"auth failed with {secret.reveal()}")
    except RuntimeError as exc:
        out = _emit("boom", exc=exc)
    assert "s3cr3t-in-traceback" not in out and "RuntimeError" in out


def test_credential_shapes_are_masked():
    assert redact("https://user:pa55word@host/v2/") == "https://user:***@host/v2/"
    assert "abc.def.ghi" not in redact("Authorization: Bearer abc.def.ghi.jkl")
    assert "topsecret" not in redact("password=topsecret&x=1")
    assert redact("nothing to hide here") == "nothing to hide here"


def test_json_lines_format():
    Secret("json-hidden-value")
    line = _emit("value %s", "json-hidden-value", fmt=JsonLinesFormatter())
    doc = json.loads(line)
    assert doc["level"] == "ERROR" and doc["message"] == "value ***"
