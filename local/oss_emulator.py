"""A loopback OSS server speaking the subset of the OSS REST API that `oss2.Bucket` uses.

Path-style addressing only (`/<bucket>/<percent-encoded key>`, which is what oss2 sends to an IP
endpoint). Every request is signed-checked (OSS V1 `OSS ak:sig` and V4 `OSS4-HMAC-SHA256`) against
the shared `CredentialStore`. Objects live on disk under `root_dir`: each object is a data file plus
a JSON sidecar, written through a temp file and renamed into place only once the whole body has
arrived, so an interrupted upload never leaves a partial object behind.

Faults (5xx, slow answers, connection resets, bad CRC headers) are injected per operation and key
glob via `inject()`; see `FAULT_KINDS`.
"""

from __future__ import annotations

import argparse
import logging
import secrets
import threading
from pathlib import Path
from urllib.parse import parse_qsl, unquote, urlsplit

from local.clock import Clock
from local.credentials import CredentialStore
from local.httpserver import Emulator, NetworkShape, wait_for_interrupt
from local.oss_auth import SignatureCheck
from local.oss_faults import FAULT_KINDS, OPS, Fault, FaultBook, parse_fault
from local.oss_handler_base import OssHandlerBase, log
from local.oss_multipart import MultipartOperations
from local.oss_objects import ObjectOperations
from local.oss_protocol import (
    BUCKET_NAME,
    MAX_KEY_BYTES,
    MAX_PART_NUMBER,
    MAX_SMALL_BODY,
    MIN_PART_SIZE,
    ClientGone,
    Handled,
    ObjectMeta,
    OssError,
    PartMeta,
    ResetNow,
    new_request_id,
)
from local.oss_storage import BucketStorage

__all__ = [
    "BUCKET_NAME",
    "FAULT_KINDS",
    "MAX_KEY_BYTES",
    "MAX_PART_NUMBER",
    "MAX_SMALL_BODY",
    "MIN_PART_SIZE",
    "OPS",
    "Fault",
    "ObjectMeta",
    "OssEmulator",
    "OssError",
    "OssRequestHandler",
    "PartMeta",
    "main",
    "parse_fault",
]


# Object requests by (method, has an uploadId); a PUT with `x-oss-copy-source` copies instead.
_OBJECT_OPS: dict[tuple[str, bool], str] = {
    ("GET", False): "get",
    ("GET", True): "list_parts",
    ("HEAD", False): "head",
    ("HEAD", True): "head",
    ("PUT", False): "put",
    ("PUT", True): "upload_part",
    ("DELETE", False): "delete",
    ("DELETE", True): "abort",
    ("POST", True): "complete",
}
_COPY_OPS = {"put": "copy", "upload_part": "upload_part_copy"}


# ---- request handler ---------------------------------------------------------------------------
class OssRequestHandler(SignatureCheck, ObjectOperations, MultipartOperations, OssHandlerBase):
    """One OSS request: classify, take a scripted fault, authenticate, dispatch to an operation."""

    # ---- top level ------------------------------------------------------------------------
    def _serve(self) -> None:
        emu = self.emulator
        self._request_id = new_request_id()
        self._status = 0
        self._recorded = False
        self._body_consumed = False
        self._first_byte_delayed = False
        self._fault = None
        self._info = {"request_id": self._request_id}
        split = urlsplit(self.path)
        self._query_pairs = parse_qsl(split.query, keep_blank_values=True)
        self._query = dict(self._query_pairs)
        bucket_raw, _, key_raw = split.path.lstrip("/").partition("/")
        self._bucket = unquote(bucket_raw)
        self._key = unquote(key_raw)
        self._op = self._classify()
        self._info.update(op=self._op, bucket=self._bucket, key=self._key)
        try:
            fault_key = self._query.get("prefix", "") if self._op == "list" else self._key
            self._fault = emu._take_fault(self._op, fault_key)
            if self._fault is not None:
                self._info["fault"] = self._fault.kind
                self._apply_early_fault(self._fault)
            self._authenticate()
            self._dispatch()
        except OssError as err:
            self._send_error(err)
        except Handled:
            pass
        except ResetNow:
            self._status = 0
            self.reset_connection()
        except ClientGone:
            self._status = 0
            self.close_connection = True
        except (BrokenPipeError, ConnectionResetError):
            self._status = 0
            self.close_connection = True
        except Exception as exc:
            log.exception("oss emulator internal error")
            if self._status:  # headers already out: nothing sensible left to say
                self.close_connection = True
            else:
                self._send_error(OssError(500, "InternalError", f"emulator error: {exc}"))
        finally:
            self._record_once()

    # One entry point for every method: `_classify` tells the operations apart.
    do_GET = do_HEAD = do_PUT = do_POST = do_DELETE = _serve

    def _classify(self) -> str:
        method, query = self.command, self._query
        if not self._bucket:
            return "service"
        if not self._key:
            return "list" if method == "GET" and "uploads" not in query else "bucket"
        if method == "POST" and "uploads" in query:
            return "initiate"
        op = _OBJECT_OPS.get((method, "uploadId" in query), "unsupported")
        if method == "PUT" and "x-oss-copy-source" in self.headers:
            return _COPY_OPS[op]
        return op

    def _dispatch(self) -> None:
        handlers = {
            "put": self._put_object,
            "get": self._get_object,
            "head": self._head_object,
            "delete": self._delete_object,
            "list": self._list_objects,
            "copy": self._copy_object,
            "initiate": self._initiate_multipart,
            "upload_part": self._upload_part,
            "list_parts": self._list_parts,
            "complete": self._complete_multipart,
            "abort": self._abort_multipart,
        }
        handler = handlers.get(self._op)
        if handler is None:
            raise OssError(
                400,
                "NotImplemented",
                f"The local OSS emulator does not support this request ({self._op}).",
            )
        if self._op != "list":
            self._check_key()
        handler()


# ---- emulator ------------------------------------------------------------------------------------
class OssEmulator(BucketStorage, Emulator):
    """Loopback OSS. Objects persist under `root_dir/<bucket>/objects/`."""

    name = "oss"
    handler_class = OssRequestHandler

    def __init__(
        self,
        credentials: CredentialStore,
        root_dir: Path,
        clock: Clock | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        super().__init__(host, port)
        self.root_dir = Path(root_dir)
        self.credentials = credentials
        self.clock = clock or credentials.clock
        self.shape = NetworkShape()
        self._lock = threading.RLock()
        self._objects: dict[str, dict[str, ObjectMeta]] = {}
        self._faults = FaultBook()
        self._put_counts: dict[tuple[str, str], int] = {}
        self.root_dir.mkdir(parents=True, exist_ok=True)
        self._load()

    def __enter__(self) -> OssEmulator:
        self.start()
        return self

    # ---- public API for tests and the local cloud --------------------------------------------
    def inject(self, op: str, fault: str, *, key: str = "*", count: int | None = 1) -> None:
        """Make the next `count` requests of `op` on keys matching `key` (fnmatch; for "list" the
        prefix is matched) fail with `fault` (see FAULT_KINDS). `count=None` means forever."""
        parsed = parse_fault(op, fault, key, count)
        self._faults.add(parsed)

    def clear_faults(self) -> None:
        self._faults.clear()

    def put_count(self, bucket: str, key: str) -> int:
        """Successful writes of `key` (put, copy and complete)."""
        with self._lock:
            return self._put_counts.get((bucket, key), 0)

    def request_count(self, op: str | None = None, key_prefix: str | None = None) -> int:
        with self._requests_lock:
            return sum(
                1
                for r in self.requests
                if (op is None or r.info.get("op") == op)
                and (key_prefix is None or str(r.info.get("key", "")).startswith(key_prefix))
            )

    def object_meta(self, bucket: str, key: str) -> ObjectMeta | None:
        with self._lock:
            return self._objects.get(bucket, {}).get(key)

    def list_keys(self, bucket: str, prefix: str = "") -> list[str]:
        with self._lock:
            return sorted(k for k in self._objects.get(bucket, {}) if k.startswith(prefix))

    def temp_files(self, bucket: str) -> list[Path]:
        """Leftover temp files (there should be none once requests have finished)."""
        return sorted((self.root_dir / bucket / ".tmp").glob("*"))

    # ---- faults ---------------------------------------------------------------------------------
    def _take_fault(self, op: str, key: str) -> Fault | None:
        return self._faults.take(op, key)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Local OSS emulator (path-style, signed).")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--root", required=True, help="directory holding the buckets")
    parser.add_argument("--bucket", action="append", default=[], help="bucket to create")
    parser.add_argument("--access-key-id", default="LTAILOCAL" + secrets.token_hex(6).upper())
    parser.add_argument("--access-key-secret", default=secrets.token_urlsafe(24))
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    store = CredentialStore()
    store.add_access_key(args.access_key_id, args.access_key_secret)
    emulator = OssEmulator(store, Path(args.root), host=args.host, port=args.port)
    for bucket in args.bucket:
        emulator.create_bucket(bucket)
    emulator.start()
    # Local throwaway credentials: printing them is how a developer points a client at us.
    print(f"endpoint={emulator.endpoint}", flush=True)
    print(f"access_key_id={args.access_key_id}", flush=True)
    print(f"access_key_secret={args.access_key_secret}", flush=True)
    print(f"buckets={','.join(args.bucket)}", flush=True)
    try:
        wait_for_interrupt()
    finally:
        emulator.stop()


if __name__ == "__main__":
    main()
