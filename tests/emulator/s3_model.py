"""S3 conditional writes of the dualstack emulator (correction o of
``launcher.py``), and the test instrument that widens their race window.

The tool keeps its journal and a lease lock in S3: journal entries are
created with ``PutObject If-None-Match: *``, the lock object is created the
same way, renewed with ``PutObject If-Match: <etag>`` and released with
``DeleteObject If-Match: <etag>``. Those conditions are only worth something
if each is one atomic step with its write, as on AWS. The launcher's module
docstring, section o, is the summary; this docstring adds the details.

Correction o (``install``; applied by ``launcher.apply_corrections()``, never
with ``--pristine``)
--------------------------------------------------------------------------
* Atomicity. moto 5.2.5 checks a condition in ``S3Response.put_object`` /
  ``delete_object`` (``backend.get_object`` and an ETag comparison) and then
  writes (``backend.put_object`` / ``delete_object``) with nothing held
  between the two, on the threaded server: of N racing ``If-None-Match: *``
  writers to one key, every one that checks before the first write lands
  gets 200, and the last write wins. Corrected: every object-level request
  (``S3Response._key_response``: PutObject, CopyObject, DeleteObject,
  CompleteMultipartUpload, GetObject, HeadObject, ...) runs under one lock
  per (account, bucket, key), so a condition check and its write are one
  step and no other write to the key lands between them. Exactly one of N
  racing ``If-None-Match: *`` writers gets 200, the others 412
  PreconditionFailed; of N racing ``If-Match`` writers with the current ETag
  one gets 200 (a rewrite of the same body keeps the ETag, so the others get
  200 too -- as on AWS). Corrected mode also hands every request to moto
  under the launcher's ``moto_lock`` (correction m), which alone serializes
  S3 as well; the per-key lock makes the atomicity this correction's own.
  AWS answers a racing conflicting conditional write ``409
  ConditionalRequestConflict`` at times ("If a conflicting operation occurs
  during the upload S3 returns a 409 ConditionalRequestConflict response");
  the emulator never does (its writes are serialized): the fault proxy
  injects it (``conditional_conflict``), and so can ``/_emulator/faults``.
* ``DeleteObject If-Match: *`` deletes the object if it exists (204) and
  answers 404 NoSuchKey if it does not, as the S3 User Guide documents ("use
  the HTTP If-Match header with the precondition value * to check if object
  exists"). moto compares ``*`` with the ETag and answers 412
  PreconditionFailed for an existing object.
* ``PutObject If-None-Match`` with anything but ``*`` answers HTTP 501
  ``NotImplemented`` "A header you provided implies functionality that is
  not implemented" (``<Header>If-None-Match</Header>``), as AWS answers it
  (the PutObject reference: "Expects the '*' (asterisk) character"; the 501
  as AWS's users report it). moto ignores the header and writes
  unconditionally, so a tool sending an ETag there would overwrite.

Checked and already AWS-like in moto 5.2.5 (no correction): path-style
requests signed for ``s3`` at the emulator's endpoint are routed to S3 (the
credential scope picks the service); ``If-None-Match: *`` on an existing key
-> 412 PreconditionFailed (``<Condition>If-None-Match</Condition>``), on a
key whose current version is a delete marker -> written; ``If-Match`` on
PutObject or DeleteObject of a missing key -> 404 NoSuchKey; a wrong ETag ->
412 PreconditionFailed (``<Condition>If-Match</Condition>``); the right ETag
writes (200, the new ETag) or deletes (204); ETags compared with or without
quotes; the ETag of a plain PUT is the quoted MD5 of the body (a rewrite of
the same body keeps it); GetObject, HeadObject and ListObjectsV2 see every
write at once (S3 is strongly consistent); conditional writes sent without
a SigV4 signature are refused (403).

Not corrected (the tool does not use them): CompleteMultipartUpload
``If-Match`` (moto checks ``If-None-Match: *`` only there); CopyObject
destination conditions; ``If-Match`` and ``If-None-Match`` together; a
PutObject sent with ``Content-Type: application/x-www-form-urlencoded`` is
stored empty by moto's server (werkzeug parses the body as a form) -- send
another content type (or none).

The write delay (``install_instrument``; installed in both modes)
-----------------------------------------------------------------
An instrument, not a correction: with ``conditional_write_delay_seconds`` D
> 0 (``/_emulator/s3-config``, default 0), a PutObject carrying
``If-None-Match`` or ``If-Match``, or a DeleteObject carrying ``If-Match``,
sleeps D seconds after moto has checked its condition and before it writes
(a wrapper of ``S3Backend.put_object`` / ``delete_object``, active only on
the thread of such a request; a request whose condition fails never gets
there). It widens moto's race window deterministically, so a test can show
the race on pristine moto every time and its absence when corrected. It is
the only patch made with ``--pristine``, and it does nothing at D = 0.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from awswire import s3_error

NOT_IMPLEMENTED_MESSAGE = "A header you provided implies functionality that is not implemented"


class S3Model:
    """Correction o's locks and the write delay's setting."""

    def __init__(self) -> None:
        self._locks_guard = threading.Lock()
        self._locks: dict[tuple[str, str, str], threading.RLock] = {}
        self.write_delay = 0.0  # conditional_write_delay_seconds
        self._local = threading.local()  # .conditional: this thread serves a conditional write

    # -- correction o -----------------------------------------------------

    def key_lock(self, account: str, bucket: str, key: str) -> threading.RLock:
        with self._locks_guard:
            lock = self._locks.get((account, bucket, key))
            if lock is None:
                lock = self._locks[(account, bucket, key)] = threading.RLock()
            return lock

    # -- the instrument ------------------------------------------------------

    def conditional(self, flag: bool) -> bool:
        previous = getattr(self._local, "conditional", False)
        self._local.conditional = flag
        return previous

    def pause_before_write(self) -> None:
        """Called between moto's condition check and its write."""
        delay = self.write_delay
        if delay > 0 and getattr(self._local, "conditional", False):
            time.sleep(delay)

    def config(self, payload: dict[str, Any]) -> dict[str, Any]:
        """GET/POST /_emulator/s3-config."""
        unknown = sorted(set(payload) - {"conditional_write_delay_seconds"})
        if unknown:
            raise ValueError(f"unknown key(s): {', '.join(unknown)} (known: conditional_write_delay_seconds)")
        if "conditional_write_delay_seconds" in payload:
            value = payload["conditional_write_delay_seconds"]
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 30:
                raise ValueError("'conditional_write_delay_seconds' must be a number of seconds from 0 to 30")
            self.write_delay = float(value)
        return {"conditional_write_delay_seconds": self.write_delay}

    def reset(self) -> None:
        # The locks stay: a request may hold one (they are per key, few).
        self.write_delay = 0.0


def install(model: S3Model) -> None:
    """Correction o: patch moto's S3 responses (see the module docstring)."""
    from moto.s3.exceptions import MissingKey
    from moto.s3.responses import S3Response

    original_key_response = S3Response._key_response
    original_put_object = S3Response.put_object
    original_delete_object = S3Response.delete_object

    def key_response(self: Any, request: Any, full_url: str) -> Any:
        # setup_class has run (key_response): the bucket and key are known.
        bucket = self.parse_bucket_name_from_url(request, full_url)
        key = self.parse_key_name()
        with model.key_lock(self.current_account, str(bucket), str(key)):
            return original_key_response(self, request, full_url)

    S3Response._key_response = key_response

    def put_object(self: Any) -> Any:
        if_none_match = self.headers.get("If-None-Match")
        if if_none_match is not None and if_none_match.strip() != "*":
            status, headers, body = s3_error(
                "NotImplemented", NOT_IMPLEMENTED_MESSAGE, 501, {"Header": "If-None-Match"}
            )
            return int(status.split(" ", 1)[0]), {k.lower(): v for k, v in headers if k.lower() != "content-length"}, body
        return original_put_object(self)

    S3Response.put_object = put_object

    def delete_object(self: Any) -> Any:
        if_match = self.headers.get("If-Match")
        if if_match is None or if_match.strip() != "*":
            return original_delete_object(self)
        # If-Match: * -- delete the current version if there is one.
        key_name = self.parse_key_name()
        if self.backend.get_object(self.bucket_name, key_name) is None:
            raise MissingKey
        bypass = self.headers.get("X-Amz-Bypass-Governance-Retention")
        version_id = self._get_param("versionId")
        _, response_meta = self.backend.delete_object(
            self.bucket_name, key_name, version_id=version_id, bypass=bypass
        )
        return 204, {f"x-amz-{k}": v for k, v in response_meta.items()}, ""

    S3Response.delete_object = delete_object


def install_instrument(model: S3Model) -> None:
    """The write delay (both modes): flag conditional writes on their thread,
    pause between the check and the write."""
    from moto.s3.models import S3Backend
    from moto.s3.responses import S3Response

    flagged_put = S3Response.put_object
    flagged_delete = S3Response.delete_object

    def put_object(self: Any) -> Any:
        conditional = bool(self.headers.get("If-None-Match") or self.headers.get("If-Match"))
        previous = model.conditional(conditional)
        try:
            return flagged_put(self)
        finally:
            model.conditional(previous)

    def delete_object(self: Any) -> Any:
        previous = model.conditional(bool(self.headers.get("If-Match")))
        try:
            return flagged_delete(self)
        finally:
            model.conditional(previous)

    S3Response.put_object = put_object
    S3Response.delete_object = delete_object

    backend_put = S3Backend.put_object
    backend_delete = S3Backend.delete_object

    def backend_put_object(self: Any, *args: Any, **kwargs: Any) -> Any:
        model.pause_before_write()
        return backend_put(self, *args, **kwargs)

    def backend_delete_object(self: Any, *args: Any, **kwargs: Any) -> Any:
        model.pause_before_write()
        return backend_delete(self, *args, **kwargs)

    S3Backend.put_object = backend_put_object
    S3Backend.delete_object = backend_delete_object
