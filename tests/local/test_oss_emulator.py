"""Fidelity tests for the OSS emulator, driven by the real, unmodified `oss2` SDK."""

from __future__ import annotations

import hashlib
import io
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import oss2
import oss2.utils
import pytest
import requests

from local.clock import Clock
from local.credentials import CredentialStore, IssuedCredentials
from local.oss_emulator import OssEmulator

BUCKET = "mybucket"
AK, SK = "LTAITESTKEY0001", "test-secret-0001"


@pytest.fixture
def store(clock: Clock) -> CredentialStore:
    store = CredentialStore(clock)
    store.add_access_key(AK, SK)
    return store


@pytest.fixture
def oss(store: CredentialStore, clock: Clock, tmp_path: Path) -> Iterator[OssEmulator]:
    emulator = OssEmulator(store, tmp_path / "oss-root", clock)
    emulator.create_bucket(BUCKET)
    with emulator:
        yield emulator


def make_bucket(oss: OssEmulator, auth: object | None = None, **kwargs: object) -> oss2.Bucket:
    kwargs.setdefault("connect_timeout", 5)
    return oss2.Bucket(auth or oss2.Auth(AK, SK), oss.endpoint, BUCKET, **kwargs)


@pytest.fixture
def bucket(oss: OssEmulator) -> oss2.Bucket:
    return make_bucket(oss)


def crc64(data: bytes) -> int:
    c = oss2.utils.Crc64(0)
    c.update(data)
    return int(c.crc)


def md5_upper(data: bytes) -> str:
    return hashlib.md5(data).hexdigest().upper()


def wait_for_requests(oss: OssEmulator, op: str, count: int) -> None:
    """The server records a request after the client may already have given up: wait for it."""
    deadline = time.monotonic() + 3
    while oss.request_count(op) < count and time.monotonic() < deadline:
        time.sleep(0.01)
    assert oss.request_count(op) >= count


# ---- basic object operations --------------------------------------------------------------------
def test_put_get_head_delete_round_trip(oss: OssEmulator, bucket: oss2.Bucket) -> None:
    key, data = "dir/a b+c.txt", b"hello world"
    put = bucket.put_object(key, data)
    assert put.status == 200
    assert put.etag == md5_upper(data)
    assert put.crc == crc64(data)
    assert len(put.request_id) == 24

    got = bucket.get_object(key)
    assert got.read() == data
    assert got.server_crc == got.client_crc == crc64(data)
    assert got.content_type == "text/plain"
    assert got.object_type == "Normal"

    head = bucket.head_object(key)
    assert head.content_length == len(data)
    assert head.etag == md5_upper(data)
    assert abs(head.last_modified - time.time()) < 5
    assert bucket.object_exists(key)
    assert oss.object_path(BUCKET, key).read_bytes() == data

    assert bucket.delete_object(key).status == 204
    assert not bucket.object_exists(key)
    assert not oss.object_path(BUCKET, key).exists()
    with pytest.raises(oss2.exceptions.NoSuchKey):
        bucket.get_object(key)
    with pytest.raises(oss2.exceptions.NoSuchKey) as head_err:  # via the x-oss-err header
        bucket.head_object(key)
    assert head_err.value.status == 404
    assert bucket.delete_object(key).status == 204  # deleting a missing key is fine, like OSS


def test_crc_header_is_crc64_ecma(bucket: oss2.Bucket) -> None:
    put = bucket.put_object("check.bin", b"123456789")
    assert put.crc == 11051210869376104954


def test_chunked_put_of_generator_and_length_less_stream(
    oss: OssEmulator, bucket: oss2.Bucket
) -> None:
    pieces = [b"x" * 70_000, b"y" * 3, b"z" * 100_000]

    def gen() -> Iterator[bytes]:
        yield from pieces

    put = bucket.put_object("gen.bin", gen())
    assert put.crc == crc64(b"".join(pieces))
    assert bucket.get_object("gen.bin").read() == b"".join(pieces)
    rec = oss.requests_matching("PUT", "gen.bin")[-1]
    assert rec.headers.get("Transfer-Encoding") == "chunked"
    assert "Content-Length" not in rec.headers

    class ReadOnlyStream:
        """A file-like object without len/seek/tell: forces chunked encoding."""

        def __init__(self, data: bytes) -> None:
            self._buf = io.BytesIO(data)

        def read(self, n: int = -1) -> bytes:
            return self._buf.read(n)

    data = bytes(range(256)) * 1000
    bucket.put_object("stream.bin", ReadOnlyStream(data))
    assert bucket.get_object("stream.bin").read() == data
    assert oss.requests_matching("PUT", "stream.bin")[-1].headers.get("Transfer-Encoding") == (
        "chunked"
    )


def test_get_with_range(bucket: oss2.Bucket) -> None:
    bucket.put_object("r.txt", b"0123456789")
    part = bucket.get_object("r.txt", byte_range=(2, 5))
    assert part.status == 206
    assert part.read() == b"2345"
    assert part.content_range == "bytes 2-5/10"
    assert bucket.get_object("r.txt", byte_range=(7, None)).read() == b"789"
    assert bucket.get_object("r.txt", byte_range=(None, 3)).read() == b"789"
    assert bucket.get_object("r.txt", byte_range=(8, 100)).read() == b"89"
    with pytest.raises(oss2.exceptions.ServerError) as err:
        bucket.get_object("r.txt", byte_range=(10, 20))
    assert (err.value.status, err.value.code) == (416, "InvalidRange")


def test_user_metadata_round_trip(bucket: oss2.Bucket) -> None:
    bucket.put_object(
        "meta.png",
        b"\x89PNG",
        headers={"x-oss-meta-source-url": "http://x/1.png", "Content-Type": "image/png"},
    )
    head = bucket.head_object("meta.png")
    assert head.headers["x-oss-meta-source-url"] == "http://x/1.png"
    assert head.content_type == "image/png"
    meta = bucket.get_object_meta("meta.png")
    assert meta.content_length == 4
    assert meta.headers["x-oss-meta-source-url"] == "http://x/1.png"


def test_missing_bucket_and_bad_key(oss: OssEmulator) -> None:
    other = oss2.Bucket(oss2.Auth(AK, SK), oss.endpoint, "nobucket", connect_timeout=5)
    with pytest.raises(oss2.exceptions.NoSuchBucket):
        other.put_object("k", b"v")
    with pytest.raises(oss2.exceptions.NoSuchBucket):
        list(oss2.ObjectIteratorV2(other))
    with pytest.raises(oss2.exceptions.ServerError) as err:
        make_bucket(oss).put_object("k" * 1024, b"v")
    assert (err.value.status, err.value.code) == (400, "InvalidObjectName")


# ---- listing -------------------------------------------------------------------------------------
def test_list_v2_prefix_delimiter_and_pagination(oss: OssEmulator, bucket: oss2.Bucket) -> None:
    keys = [f"p/{i:03d}.txt" for i in range(23)]
    keys += ["p/sub/a", "p/sub/b", "p/sub2/c", "p/ü é&<x>+%.txt", "q/other", "p"]
    for key in keys:
        bucket.put_object(key, key.encode())

    under_p = sorted(k for k in keys if k.startswith("p/"))
    listed = [o.key for o in oss2.ObjectIteratorV2(bucket, prefix="p/", max_keys=7)]
    assert listed == under_p  # lexicographic, all pages, special characters intact
    assert oss.request_count("list") == 4  # 27 keys, 7 per page

    first = bucket.list_objects_v2(prefix="p/", delimiter="/", max_keys=10)
    assert first.is_truncated
    assert [o.key for o in first.object_list] == under_p[:10]
    entries = [(o.key, o.is_prefix()) for o in oss2.ObjectIteratorV2(bucket, "p/", "/", max_keys=3)]
    assert ("p/sub/", True) in entries and ("p/sub2/", True) in entries
    assert [e for e, _ in entries].count("p/sub/") == 1
    assert not any(k.startswith("p/sub/") and k != "p/sub/" for k, _ in entries)
    assert len(entries) == 23 + 1 + 2  # flat keys, the special key, two common prefixes

    top = bucket.list_objects_v2(delimiter="/")
    assert [o.key for o in top.object_list] == ["p"]
    assert top.prefix_list == ["p/", "q/"]
    after = bucket.list_objects_v2(prefix="p/", start_after="p/020.txt")
    assert [o.key for o in after.object_list][:2] == ["p/021.txt", "p/022.txt"]

    contents = bucket.list_objects_v2(prefix="p/ü").object_list
    assert [(o.key, o.size, o.etag, o.type, o.storage_class) for o in contents] == [
        (
            "p/ü é&<x>+%.txt",
            len("p/ü é&<x>+%.txt".encode()),
            md5_upper(contents[0].key.encode()),
            "Normal",
            "Standard",
        )
    ]
    assert oss.list_keys(BUCKET, "q/") == ["q/other"]


def test_list_v1_marker_pagination(bucket: oss2.Bucket) -> None:
    for i in range(5):
        bucket.put_object(f"v1/{i}", b"x")
        bucket.put_object(f"v1/d{i}/y", b"y")
    entries = [o.key for o in oss2.ObjectIterator(bucket, prefix="v1/", delimiter="/", max_keys=2)]
    assert entries == sorted([f"v1/{i}" for i in range(5)] + [f"v1/d{i}/" for i in range(5)])


# ---- copy ----------------------------------------------------------------------------------------
def test_copy_object(oss: OssEmulator, bucket: oss2.Bucket) -> None:
    data = b"copy me " * 1000
    bucket.put_object("src/a b.txt", data, headers={"x-oss-meta-origin": "alimt"})
    result = bucket.copy_object(BUCKET, "src/a b.txt", "dst/c+d.txt")
    assert result.etag == md5_upper(data)
    assert result.crc == crc64(data)
    copied = bucket.get_object("dst/c+d.txt")
    assert copied.read() == data
    assert copied.headers["x-oss-meta-origin"] == "alimt"
    assert oss.put_count(BUCKET, "dst/c+d.txt") == 1

    with pytest.raises(oss2.exceptions.NoSuchKey):
        bucket.copy_object(BUCKET, "src/missing", "dst/x")
    with pytest.raises(oss2.exceptions.ServerError) as err:
        bucket.copy_object(
            BUCKET, "src/a b.txt", "dst/c+d.txt", headers={"x-oss-forbid-overwrite": "true"}
        )
    assert (err.value.status, err.value.code) == (409, "FileAlreadyExists")


# ---- multipart -----------------------------------------------------------------------------------
def test_multipart_init_upload_complete(oss: OssEmulator, bucket: oss2.Bucket) -> None:
    part1, part2 = b"a" * (100 * 1024), b"tail"
    upload_id = bucket.init_multipart_upload(
        "mp/big.bin", headers={"x-oss-meta-kind": "mp"}
    ).upload_id
    r1 = bucket.upload_part("mp/big.bin", upload_id, 1, part1)
    r2 = bucket.upload_part("mp/big.bin", upload_id, 2, part2)
    assert (r1.etag, r1.crc) == (md5_upper(part1), crc64(part1))
    listed = bucket.list_parts("mp/big.bin", upload_id)
    assert [(p.part_number, p.etag, p.size) for p in listed.parts] == [
        (1, r1.etag, len(part1)),
        (2, r2.etag, len(part2)),
    ]
    parts = [
        oss2.models.PartInfo(1, r1.etag, size=len(part1), part_crc=r1.crc),
        oss2.models.PartInfo(2, r2.etag, size=len(part2), part_crc=r2.crc),
    ]
    done = bucket.complete_multipart_upload("mp/big.bin", upload_id, parts)
    assert done.crc == crc64(part1 + part2)  # oss2 compared it with the combined part CRCs
    expected_etag = hashlib.md5(hashlib.md5(part1).digest() + hashlib.md5(part2).digest())
    assert done.etag == expected_etag.hexdigest().upper() + "-2"
    got = bucket.get_object("mp/big.bin")
    assert got.read() == part1 + part2
    assert got.object_type == "Multipart"
    assert got.headers["x-oss-meta-kind"] == "mp"
    assert oss.put_count(BUCKET, "mp/big.bin") == 1
    with pytest.raises(oss2.exceptions.NoSuchUpload):  # completed uploads are gone
        bucket.list_parts("mp/big.bin", upload_id)


def test_multipart_abort_and_errors(oss: OssEmulator, bucket: oss2.Bucket) -> None:
    upload_id = bucket.init_multipart_upload("mp/x.bin").upload_id
    small = bucket.upload_part("mp/x.bin", upload_id, 1, b"small")
    last = bucket.upload_part("mp/x.bin", upload_id, 2, b"last")
    with pytest.raises(oss2.exceptions.ServerError) as err:
        bucket.complete_multipart_upload(
            "mp/x.bin",
            upload_id,
            [oss2.models.PartInfo(1, small.etag), oss2.models.PartInfo(2, last.etag)],
        )
    assert (err.value.status, err.value.code) == (400, "EntityTooSmall")
    with pytest.raises(oss2.exceptions.ServerError) as err:
        bucket.complete_multipart_upload("mp/x.bin", upload_id, [oss2.models.PartInfo(1, "BAD")])
    assert (err.value.status, err.value.code) == (400, "InvalidPart")

    assert bucket.abort_multipart_upload("mp/x.bin", upload_id).status == 204
    with pytest.raises(oss2.exceptions.NoSuchUpload):
        bucket.upload_part("mp/x.bin", upload_id, 3, b"late")
    with pytest.raises(oss2.exceptions.NoSuchUpload):
        bucket.complete_multipart_upload("mp/x.bin", upload_id, [oss2.models.PartInfo(1, "X")])
    assert not bucket.object_exists("mp/x.bin")
    assert oss.put_count(BUCKET, "mp/x.bin") == 0


def test_resumable_upload_multipart(oss: OssEmulator, bucket: oss2.Bucket, tmp_path: Path) -> None:
    data = bytes(range(256)) * 1400  # 358400 bytes -> 4 parts of 100 KiB
    src = tmp_path / "upload.bin"
    src.write_bytes(data)
    result = oss2.resumable_upload(
        bucket,
        "resumable/out.bin",
        str(src),
        store=oss2.ResumableStore(root=str(tmp_path / "ckpt")),
        multipart_threshold=100 * 1024,
        part_size=100 * 1024,
        num_threads=2,
    )
    assert result.crc == crc64(data)
    assert bucket.get_object("resumable/out.bin").read() == data
    assert oss.request_count("initiate") == 1
    assert oss.request_count("list_parts") == 1
    assert oss.request_count("upload_part") == 4
    assert oss.request_count("complete") == 1
    assert oss.put_count(BUCKET, "resumable/out.bin") == 1


# ---- forbid-overwrite and CRC faults ----------------------------------------------------------------
def test_forbid_overwrite(oss: OssEmulator, bucket: oss2.Bucket) -> None:
    forbid = {"x-oss-forbid-overwrite": "true"}
    bucket.put_object("once.txt", b"first", headers=forbid)
    with pytest.raises(oss2.exceptions.ServerError) as err:
        bucket.put_object("once.txt", b"second", headers=forbid)
    assert type(err.value) is oss2.exceptions.ServerError
    assert (err.value.status, err.value.code) == (409, "FileAlreadyExists")
    assert err.value.request_id
    assert bucket.get_object("once.txt").read() == b"first"
    assert oss.put_count(BUCKET, "once.txt") == 1
    assert oss.temp_files(BUCKET) == []

    upload_id = bucket.init_multipart_upload("once.txt").upload_id
    part = bucket.upload_part("once.txt", upload_id, 1, b"mp")
    with pytest.raises(oss2.exceptions.ServerError) as err:
        bucket.complete_multipart_upload(
            "once.txt", upload_id, [oss2.models.PartInfo(1, part.etag)], headers=forbid
        )
    assert err.value.code == "FileAlreadyExists"
    bucket.put_object("once.txt", b"third")  # without the header an overwrite is fine
    assert oss.put_count(BUCKET, "once.txt") == 2


def test_wrong_crc64_raises_inconsistent_error_but_data_is_stored(
    oss: OssEmulator, bucket: oss2.Bucket
) -> None:
    oss.inject("put", "bad-crc", key="crc/*")
    with pytest.raises(oss2.exceptions.InconsistentError):
        bucket.put_object("crc/a.bin", b"payload")
    assert oss.object_path(BUCKET, "crc/a.bin").read_bytes() == b"payload"
    bucket.put_object("crc/b.bin", b"payload")  # the fault was for one request only

    oss.inject("complete", "bad-crc")
    upload_id = bucket.init_multipart_upload("crc/mp.bin").upload_id
    part = bucket.upload_part("crc/mp.bin", upload_id, 1, b"data")
    with pytest.raises(oss2.exceptions.InconsistentError):
        bucket.complete_multipart_upload(
            "crc/mp.bin", upload_id, [oss2.models.PartInfo(1, part.etag, size=4, part_crc=part.crc)]
        )
    assert bucket.get_object("crc/mp.bin").read() == b"data"

    oss.inject("get", "bad-crc")
    with pytest.raises(oss2.exceptions.InconsistentError):
        bucket.get_object_to_file("crc/b.bin", str(oss.root_dir / "download.bin"))


# ---- authentication ------------------------------------------------------------------------------
def test_wrong_secret_and_unknown_key_are_refused(oss: OssEmulator) -> None:
    with pytest.raises(oss2.exceptions.SignatureDoesNotMatch) as err:
        make_bucket(oss, oss2.Auth(AK, "not-the-secret")).put_object("x", b"y")
    assert err.value.status == 403
    assert "StringToSign" in err.value.details
    with pytest.raises(oss2.exceptions.ServerError) as err2:
        make_bucket(oss, oss2.Auth("LTAIUNKNOWN", SK)).get_object("x")
    assert (err2.value.status, err2.value.code) == (403, "InvalidAccessKeyId")
    with pytest.raises(oss2.exceptions.AccessDenied):
        make_bucket(oss, oss2.AnonymousAuth()).get_object("x")
    assert oss.list_keys(BUCKET) == []
    assert oss.put_count(BUCKET, "x") == 0
    assert all("authorization" not in {k.lower() for k in r.headers} for r in oss.requests)


def sts_bucket(oss: OssEmulator, creds: IssuedCredentials, token: str | None = None) -> oss2.Bucket:
    auth = oss2.StsAuth(
        creds.access_key_id, creds.access_key_secret, token or creds.security_token or ""
    )
    return make_bucket(oss, auth)


def test_sts_token_valid_then_expired(
    oss: OssEmulator, store: CredentialStore, clock: Clock
) -> None:
    creds = store.issue_sts(ttl_seconds=900)
    sts = sts_bucket(oss, creds)
    sts.put_object("sts.txt", b"via sts")
    assert sts.get_object("sts.txt").read() == b"via sts"

    with pytest.raises(oss2.exceptions.ServerError) as bad:
        sts_bucket(oss, creds, token="CAISforged").get_object("sts.txt")
    assert (bad.value.status, bad.value.code) == (403, "InvalidSecurityToken")

    clock.advance(901)
    with pytest.raises(oss2.exceptions.ServerError) as expired:
        sts.get_object("sts.txt")
    assert (expired.value.status, expired.value.code) == (403, "SecurityTokenExpired")
    assert expired.value.ec == "0002-00000007"
    assert all("x-oss-security-token" not in {k.lower() for k in r.headers} for r in oss.requests)


def test_auth_v4(oss: OssEmulator, store: CredentialStore, tmp_path: Path) -> None:
    v4 = make_bucket(oss, oss2.AuthV4(AK, SK), region="cn-hangzhou")
    key = "v4/dir/a b+c~(1).txt"
    v4.put_object(key, b"v4 data", headers={"x-oss-meta-a": "b"})
    assert v4.get_object(key).read() == b"v4 data"
    assert [o.key for o in oss2.ObjectIteratorV2(v4, prefix="v4/")] == [key]
    assert v4.object_exists(key)
    upload_id = v4.init_multipart_upload("v4/mp").upload_id
    part = v4.upload_part("v4/mp", upload_id, 1, b"p")
    v4.complete_multipart_upload("v4/mp", upload_id, [oss2.models.PartInfo(1, part.etag)])
    v4.copy_object(BUCKET, key, "v4/copy")
    v4.delete_object(key)
    assert oss.list_keys(BUCKET) == ["v4/copy", "v4/mp"]

    creds = store.issue_sts(60)
    sts_v4 = oss2.ProviderAuthV4(
        oss2.credentials.StaticCredentialsProvider(
            creds.access_key_id, creds.access_key_secret, creds.security_token
        )
    )
    make_bucket(oss, sts_v4, region="cn-hangzhou").put_object("v4/sts", b"s")

    with pytest.raises(oss2.exceptions.SignatureDoesNotMatch):
        make_bucket(oss, oss2.AuthV4(AK, "wrong"), region="cn-hangzhou").get_object("v4/copy")


# ---- injected faults ---------------------------------------------------------------------------------
def test_5xx_faults_then_success(oss: OssEmulator, bucket: oss2.Bucket) -> None:
    oss.inject("put", "http:503")
    with pytest.raises(oss2.exceptions.ServerError) as err:
        bucket.put_object("f.txt", b"x")
    assert (err.value.status, err.value.code) == (503, "ServiceUnavailable")
    assert not bucket.object_exists("f.txt")
    bucket.put_object("f.txt", b"x")

    oss.inject("get", "html:502", key="f.*")
    with pytest.raises(oss2.exceptions.ServerError) as err:
        bucket.get_object("f.txt")
    assert (err.value.status, err.value.code, err.value.details) == (502, "", {})

    oss.inject("head", "http:500", count=2)
    for _ in range(2):
        with pytest.raises(oss2.exceptions.ServerError) as err:
            bucket.head_object("f.txt")
        assert (err.value.status, err.value.code) == (500, "InternalError")
    assert bucket.head_object("f.txt").content_length == 1
    assert oss.put_count(BUCKET, "f.txt") == 1


def test_list_faults(oss: OssEmulator, bucket: oss2.Bucket) -> None:
    bucket.put_object("l/1", b"1")
    oss.inject("list", "http:500", count=2)  # the iterator retries 5xx up to 3 times
    assert [o.key for o in oss2.ObjectIteratorV2(bucket, prefix="l/")] == ["l/1"]
    assert oss.request_count("list") == 3
    oss.inject("list", "http:503", count=None)
    with pytest.raises(oss2.exceptions.ServerError):
        list(oss2.ObjectIteratorV2(bucket, prefix="l/"))
    oss.clear_faults()
    assert len(list(oss2.ObjectIteratorV2(bucket, prefix="l/"))) == 1


def test_reset_faults_raise_request_error(oss: OssEmulator, bucket: oss2.Bucket) -> None:
    bucket.put_object("reset/keep.txt", b"keep")
    oss.inject("get", "reset", key="reset/*")
    with pytest.raises(oss2.exceptions.RequestError) as err:
        bucket.get_object("reset/keep.txt")
    assert err.value.status == -2

    oss.inject("put", "reset")
    with pytest.raises(oss2.exceptions.RequestError):
        bucket.put_object("reset/new.txt", b"n" * 200_000)
    oss.inject("put", "reset-mid-body")
    with pytest.raises(oss2.exceptions.RequestError):
        bucket.put_object("reset/new.txt", b"n" * 500_000)
    oss.inject("upload_part", "reset-mid-body")
    upload_id = bucket.init_multipart_upload("reset/mp").upload_id
    with pytest.raises(oss2.exceptions.RequestError):
        bucket.upload_part("reset/mp", upload_id, 1, b"p" * 300_000)
    wait_for_requests(oss, "upload_part", 1)
    assert bucket.list_parts("reset/mp", upload_id).parts == []
    assert not bucket.object_exists("reset/new.txt")
    assert oss.temp_files(BUCKET) == []
    assert oss.put_count(BUCKET, "reset/new.txt") == 0

    # A reset while the body streams surfaces from requests itself: oss2 does not wrap body reads.
    bucket.put_object("reset/big.bin", b"g" * 300_000)
    oss.inject("get", "reset-mid-body")
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        bucket.get_object_to_file("reset/big.bin", str(oss.root_dir / "partial"))
    assert bucket.get_object("reset/keep.txt").read() == b"keep"  # faults are gone


def test_delay_fault_times_out_after_the_write(oss: OssEmulator) -> None:
    impatient = make_bucket(oss, connect_timeout=0.5)
    oss.inject("put", "delay:1.5")
    started = time.monotonic()
    with pytest.raises(oss2.exceptions.RequestError):
        impatient.put_object("slow.txt", b"late answer")
    assert time.monotonic() - started < 1.4
    # Like a real lost response: the object was written even though the client gave up.
    assert impatient.get_object("slow.txt").read() == b"late answer"

    oss.inject("get", "delay:0.2")
    started = time.monotonic()
    assert impatient.get_object("slow.txt").read() == b"late answer"
    assert time.monotonic() - started >= 0.2


def test_client_dying_mid_upload_leaves_nothing(oss: OssEmulator, bucket: oss2.Bucket) -> None:
    class ClientCrash(Exception):
        pass

    def dying_chunks() -> Iterator[bytes]:
        yield b"a" * 100_000
        yield b"b" * 100_000
        raise ClientCrash("client died")

    with pytest.raises(ClientCrash):
        bucket.put_object("dead/chunked.bin", dying_chunks())

    class LyingFile:
        """Declares 1 MB, delivers 300 kB, then the process 'dies'."""

        def __init__(self) -> None:
            self.sent = 0

        def __len__(self) -> int:
            return 1_000_000

        def read(self, n: int = -1) -> bytes:
            if self.sent >= 300_000:
                raise ClientCrash("client died")
            self.sent += 100_000
            return b"c" * 100_000

    with pytest.raises(ClientCrash):
        bucket.put_object("dead/sized.bin", LyingFile())

    wait_for_requests(oss, "put", 2)
    assert [r.status for r in oss.requests_matching("PUT", "dead")] == [0, 0]
    assert oss.list_keys(BUCKET, "dead/") == []
    assert not oss.object_path(BUCKET, "dead/chunked.bin").exists()
    assert not oss.object_path(BUCKET, "dead/sized.bin").exists()
    assert oss.temp_files(BUCKET) == []


# ---- counters, persistence, shaping ----------------------------------------------------------------
def test_put_count_and_request_log(oss: OssEmulator, bucket: oss2.Bucket) -> None:
    assert oss.put_count(BUCKET, "c/a") == 0
    bucket.put_object("c/a", b"1")
    bucket.put_object("c/a", b"2")
    bucket.copy_object(BUCKET, "c/a", "c/b")
    bucket.get_object("c/a").read()
    assert oss.put_count(BUCKET, "c/a") == 2
    assert oss.put_count(BUCKET, "c/b") == 1
    assert oss.request_count("put") == 2
    assert oss.request_count("copy", key_prefix="c/") == 1
    assert oss.request_count(key_prefix="c/a") == 3
    rec = oss.requests_matching("GET", "c%2Fa")[-1]
    assert rec.info["op"] == "get" and rec.info["bucket"] == BUCKET and rec.info["key"] == "c/a"
    assert rec.status == 200


def test_objects_persist_across_restarts(
    oss: OssEmulator, bucket: oss2.Bucket, store: CredentialStore
) -> None:
    bucket.put_object("persist/a.txt", b"still here", headers={"x-oss-meta-x": "1"})
    oss.stop()
    with OssEmulator(store, oss.root_dir) as again:
        b2 = make_bucket(again)
        got = b2.get_object("persist/a.txt")
        assert got.read() == b"still here"
        assert got.headers["x-oss-meta-x"] == "1"
        assert again.list_keys(BUCKET) == ["persist/a.txt"]


def test_network_shape_paces_downloads(oss: OssEmulator, bucket: oss2.Bucket) -> None:
    bucket.put_object("shape.bin", b"s" * 100_000)
    oss.shape.ttfb_seconds = 0.1
    oss.shape.bandwidth_bytes_per_second = 400_000
    started = time.monotonic()
    assert len(bucket.get_object("shape.bin").read()) == 100_000
    assert time.monotonic() - started >= 0.3  # 0.1 s first byte + 0.25 s at 400 kB/s


def test_inject_rejects_unknown_faults(oss: OssEmulator) -> None:
    with pytest.raises(ValueError):
        oss.inject("put", "explode")
    with pytest.raises(ValueError):
        oss.inject("fly", "reset")


def test_concurrent_forbid_overwrite_lets_exactly_one_writer_win(oss: OssEmulator) -> None:
    outcomes: list[str] = []

    def writer(i: int) -> None:
        try:
            make_bucket(oss).put_object(
                "race.txt",
                f"writer {i}".encode() * 10_000,
                headers={"x-oss-forbid-overwrite": "true"},
            )
            outcomes.append("ok")
        except oss2.exceptions.ServerError as err:
            outcomes.append(err.code)

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=10)
    assert sorted(outcomes) == ["FileAlreadyExists"] * 7 + ["ok"]
    assert oss.put_count(BUCKET, "race.txt") == 1
    assert oss.temp_files(BUCKET) == []
