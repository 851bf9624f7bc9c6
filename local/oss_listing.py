"""OSS bucket listing (ListObjects and ListObjectsV2): the query read and checked, the page of keys
and common prefixes after the marker or continuation token, and the `ListBucketResult` XML."""

from __future__ import annotations

import base64
import binascii
import bisect
import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import quote
from xml.sax.saxutils import escape as xml_escape

from local.oss_protocol import ObjectMeta, OssError, iso8601

Entry = tuple[str, ObjectMeta | None]  # a key with its meta, or a common prefix (meta None)

_OWNER = "<Owner><ID>local-owner</ID><DisplayName>local-owner</DisplayName></Owner>"


@dataclass(frozen=True)
class ListQuery:
    """A listing request's parameters, checked as the service checks them."""

    v2: bool
    prefix: str
    delimiter: str
    url_encode: bool
    max_keys: int
    token: str  # v2 continuation-token, as sent
    after: str  # the key the page starts after (marker, start-after or the decoded token)
    start_after: str | None  # v2 start-after, echoed back when sent
    owner: bool  # V1 always lists owners, V2 only with fetch-owner=true

    @classmethod
    def parse(cls, query: dict[str, str]) -> ListQuery:
        v2 = query.get("list-type") == "2"
        encoding = query.get("encoding-type", "")
        if encoding not in ("", "url"):
            raise OssError(400, "InvalidArgument", "The encoding-type parameter is invalid.")
        token = query.get("continuation-token", "")
        return cls(
            v2=v2,
            prefix=query.get("prefix", ""),
            delimiter=query.get("delimiter", ""),
            url_encode=encoding == "url",
            max_keys=_max_keys(query.get("max-keys")),
            token=token,
            after=_start_after(query, v2, token),
            start_after=query.get("start-after") if v2 else None,
            owner=query.get("fetch-owner") == "true" or not v2,
        )

    def enc(self, text: str) -> str:
        return quote(text, safe="") if self.url_encode else xml_escape(text)


def _max_keys(raw: str | None) -> int:
    try:
        max_keys = int(raw or 100)
    except ValueError:
        max_keys = -1
    if not 0 <= max_keys <= 1000:
        raise OssError(
            400, "InvalidArgument", "Argument max-keys must be an integer between 0 and 1000."
        )
    return max_keys


def _start_after(query: dict[str, str], v2: bool, token: str) -> str:
    if not v2:
        return query.get("marker", "")
    if not token:
        return query.get("start-after", "")
    try:
        return base64.urlsafe_b64decode(token.encode()).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        raise OssError(400, "InvalidArgument", "The continuation token is invalid.") from None


def list_entries(
    metas: list[ObjectMeta], prefix: str, delimiter: str, after: str
) -> Iterator[Entry]:
    """Keys (with meta) and common prefixes (meta None) strictly after `after`, in order.
    A common prefix equal to `after` was the last entry of the previous page: skip it."""
    keys = [m.key for m in metas]
    start = bisect.bisect_left(keys, prefix)
    if after:
        start = max(start, bisect.bisect_right(keys, after))
    last_prefix = after
    for meta in metas[start:]:
        if not meta.key.startswith(prefix):
            break
        common = _common_prefix(meta.key, prefix, delimiter)
        if common is None:
            yield meta.key, meta
        elif common != last_prefix:
            last_prefix = common
            yield common, None


def _common_prefix(key: str, prefix: str, delimiter: str) -> str | None:
    if not delimiter:
        return None
    pos = key.find(delimiter, len(prefix))
    return key[: pos + len(delimiter)] if pos >= 0 else None


def first_page(metas: list[ObjectMeta], q: ListQuery) -> tuple[list[Entry], bool]:
    """The page of at most `max_keys` entries, and whether more follow."""
    entries = list_entries(metas, q.prefix, q.delimiter, q.after)
    page = list(itertools.islice(entries, q.max_keys))
    truncated = next(entries, None) is not None
    return page, truncated


def list_xml(bucket: str, q: ListQuery, page: list[Entry], truncated: bool) -> str:
    enc = q.enc
    out = [
        f"<ListBucketResult><Name>{xml_escape(bucket)}</Name>",
        f"<Prefix>{enc(q.prefix)}</Prefix>",
    ]
    out += _position_xml(q)
    out.append(f"<MaxKeys>{q.max_keys}</MaxKeys><Delimiter>{enc(q.delimiter)}</Delimiter>")
    if q.url_encode:
        out.append("<EncodingType>url</EncodingType>")
    out.append(f"<IsTruncated>{'true' if truncated else 'false'}</IsTruncated>")
    if truncated and page:
        out.append(_next_position_xml(q, page[-1][0]))
    if q.v2:
        out.append(f"<KeyCount>{len(page)}</KeyCount>")
    out += [_contents_xml(q, name, meta) for name, meta in page if meta is not None]
    out += [
        f"<CommonPrefixes><Prefix>{enc(name)}</Prefix></CommonPrefixes>"
        for name, meta in page
        if meta is None
    ]
    out.append("</ListBucketResult>")
    return "".join(out)


def _position_xml(q: ListQuery) -> list[str]:
    if not q.v2:
        return [f"<Marker>{q.enc(q.after)}</Marker>"]
    out = []
    if q.start_after is not None:
        out.append(f"<StartAfter>{q.enc(q.start_after)}</StartAfter>")
    if q.token:
        out.append(f"<ContinuationToken>{q.enc(q.token)}</ContinuationToken>")
    return out


def _next_position_xml(q: ListQuery, last: str) -> str:
    if not q.v2:
        return f"<NextMarker>{q.enc(last)}</NextMarker>"
    next_token = base64.urlsafe_b64encode(last.encode("utf-8")).decode()
    return f"<NextContinuationToken>{q.enc(next_token)}</NextContinuationToken>"


def _contents_xml(q: ListQuery, name: str, meta: ObjectMeta) -> str:
    return (
        f"<Contents><Key>{q.enc(name)}</Key>"
        f"<LastModified>{iso8601(meta.last_modified)}</LastModified>"
        f'<ETag>"{meta.etag}"</ETag><Type>{meta.object_type}</Type>'
        f"<Size>{meta.size}</Size><StorageClass>Standard</StorageClass>"
        + (_OWNER if q.owner else "")
        + "</Contents>"
    )
