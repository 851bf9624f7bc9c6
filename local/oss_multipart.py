"""OSS multipart uploads: initiate, upload part, list parts, complete (part order, ETags, the
minimum part size, `x-oss-complete-all`) and abort."""

from __future__ import annotations

import hashlib
from urllib.parse import quote
from xml.etree import ElementTree
from xml.sax.saxutils import escape as xml_escape

import oss2.utils

from local.oss_handler_base import OssHandlerBase
from local.oss_protocol import (
    MAX_PART_NUMBER,
    MIN_PART_SIZE,
    ObjectMeta,
    OssError,
    PartMeta,
    iso8601,
)


class MultipartOperations(OssHandlerBase):
    """Multipart requests (a mixin of `OssRequestHandler`)."""

    # ---- multipart ----------------------------------------------------------------------------
    def _upload_id(self) -> str:
        upload_id = self._query.get("uploadId", "")
        if not self.emulator._upload_exists(self._bucket, self._key, upload_id):
            self.emulator._require_bucket(self._bucket)
            raise OssError(
                404,
                "NoSuchUpload",
                "The specified upload does not exist. The upload ID may be invalid, "
                "or the upload may have been aborted or completed.",
                {"UploadId": upload_id},
            )
        return upload_id

    def _initiate_multipart(self) -> None:
        emu = self.emulator
        emu._require_bucket(self._bucket)
        self._drain_body()
        upload_id = emu._create_upload(
            self._bucket,
            self._key,
            {
                "content_type": self.headers.get("Content-Type") or "application/octet-stream",
                "metadata": self._user_metadata(),
                "forbid_overwrite": self._forbid_overwrite(),
                "initiated": emu.clock.now(),
            },
        )
        self._info["upload_id"] = upload_id
        self._send_xml(
            200,
            f"<InitiateMultipartUploadResult><Bucket>{xml_escape(self._bucket)}</Bucket>"
            f"<Key>{xml_escape(self._key)}</Key><UploadId>{upload_id}</UploadId>"
            "</InitiateMultipartUploadResult>",
        )

    def _upload_part(self) -> None:
        emu = self.emulator
        upload_id = self._upload_id()
        try:
            part_number = int(self._query.get("partNumber", ""))
        except ValueError:
            part_number = 0
        if not 1 <= part_number <= MAX_PART_NUMBER:
            raise OssError(
                400, "InvalidArgument", "Part number must be an integer between 1 and 10000."
            )
        self._info["part_number"] = part_number
        received = self._receive_to_temp()
        try:
            part = PartMeta(
                part_number=part_number,
                size=received.size,
                etag=received.md5.hexdigest().upper(),
                md5_hex=received.md5.hexdigest(),
                crc64=str(received.crc),
                last_modified=emu.clock.now(),
            )
            self._delay_first_byte()
            emu._store_part(self._bucket, upload_id, received.path, part)
        finally:
            received.path.unlink(missing_ok=True)
        self._respond(
            200, {"ETag": f'"{part.etag}"', "x-oss-hash-crc64ecma": self._crc_header(part.crc64)}
        )

    def _list_parts(self) -> None:
        upload_id = self._upload_id()
        try:
            marker = int(self._query.get("part-number-marker") or 0)
            max_parts = int(self._query.get("max-parts") or 1000)
        except ValueError:
            raise OssError(
                400, "InvalidArgument", "Invalid part-number-marker or max-parts."
            ) from None
        parts = [p for p in self.emulator._parts(self._bucket, upload_id) if p.part_number > marker]
        page, truncated = parts[:max_parts], len(parts) > max_parts
        next_marker = page[-1].part_number if page else marker
        body = [
            f"<ListPartsResult><Bucket>{xml_escape(self._bucket)}</Bucket>"
            f"<Key>{xml_escape(self._key)}</Key><UploadId>{upload_id}</UploadId>"
            f"<PartNumberMarker>{marker}</PartNumberMarker>"
            f"<NextPartNumberMarker>{next_marker}</NextPartNumberMarker>"
            f"<MaxParts>{max_parts}</MaxParts>"
            f"<IsTruncated>{'true' if truncated else 'false'}</IsTruncated>"
        ]
        body += [
            f"<Part><PartNumber>{p.part_number}</PartNumber>"
            f"<LastModified>{iso8601(p.last_modified)}</LastModified>"
            f'<ETag>"{p.etag}"</ETag><HashCrc64ecma>{p.crc64}</HashCrc64ecma>'
            f"<Size>{p.size}</Size></Part>"
            for p in page
        ]
        body.append("</ListPartsResult>")
        self._send_xml(200, "".join(body))

    def _complete_multipart(self) -> None:
        emu = self.emulator
        upload_id = self._upload_id()
        raw = self._read_small_body()
        stored = {p.part_number: p for p in emu._parts(self._bucket, upload_id)}
        if self.headers.get("x-oss-complete-all", "").lower() == "yes":
            chosen = [stored[n] for n in sorted(stored)]
        else:
            chosen = self._chosen_parts(raw, stored)
        if not chosen:
            raise OssError(400, "MalformedXML", "The XML you provided was not well-formed.")
        for part in chosen[:-1]:
            if part.size < MIN_PART_SIZE:
                raise OssError(
                    400,
                    "EntityTooSmall",
                    "Your proposed upload is smaller than the minimum allowed object size.",
                    {"PartNumber": str(part.part_number)},
                )
        upload = emu._upload_info(self._bucket, upload_id)
        tmp = emu._new_temp_path(self._bucket)
        md5 = hashlib.md5()
        crc = oss2.utils.Crc64(0)
        size = 0
        try:
            with open(tmp, "wb") as out:
                for part in chosen:
                    with open(
                        emu._part_path(self._bucket, upload_id, part.part_number), "rb"
                    ) as src:
                        while data := src.read(1 << 20):
                            out.write(data)
                            crc.update(data)
                            size += len(data)
                    md5.update(bytes.fromhex(part.md5_hex))
            meta = ObjectMeta(
                key=self._key,
                size=size,
                etag=f"{md5.hexdigest().upper()}-{len(chosen)}",
                crc64=str(crc.crc),
                content_type=upload["content_type"],
                metadata=upload["metadata"],
                last_modified=emu.clock.now(),
                object_type="Multipart",
            )
            forbid = self._forbid_overwrite() or bool(upload.get("forbid_overwrite"))
            emu._commit(self._bucket, self._key, tmp, meta, forbid)
        finally:
            tmp.unlink(missing_ok=True)
        emu._remove_upload(self._bucket, upload_id)
        location = (
            f"http://{self.headers.get('Host', '')}/{self._bucket}/{quote(self._key, safe='')}"
        )
        self._send_xml(
            200,
            f"<CompleteMultipartUploadResult><Location>{xml_escape(location)}</Location>"
            f"<Bucket>{xml_escape(self._bucket)}</Bucket><Key>{xml_escape(self._key)}</Key>"
            f'<ETag>"{meta.etag}"</ETag></CompleteMultipartUploadResult>',
            self._write_result_headers(meta),
        )

    @staticmethod
    def _chosen_parts(raw: bytes, stored: dict[int, PartMeta]) -> list[PartMeta]:
        try:
            root = ElementTree.fromstring(raw)
            listed = [
                (int(p.findtext("PartNumber") or ""), (p.findtext("ETag") or "").strip().strip('"'))
                for p in root.findall("Part")
            ]
        except (ElementTree.ParseError, ValueError):
            raise OssError(
                400, "MalformedXML", "The XML you provided was not well-formed."
            ) from None
        numbers = [n for n, _ in listed]
        if numbers != sorted(set(numbers)):
            raise OssError(400, "InvalidPartOrder", "The list of parts was not in ascending order.")
        chosen = []
        for number, etag in listed:
            part = stored.get(number)
            if part is None or part.etag.upper() != etag.upper():
                raise OssError(
                    400,
                    "InvalidPart",
                    "One or more of the specified parts could not be found or the specified "
                    "entity tag might not have matched the part's entity tag.",
                    {"PartNumber": str(number), "ETag": etag},
                )
            chosen.append(part)
        return chosen

    def _abort_multipart(self) -> None:
        upload_id = self._upload_id()
        self.emulator._remove_upload(self._bucket, upload_id)
        self._respond(204, {})
