"""OSS request signatures: V1 (`OSS ak:sig`) and V4 (`OSS4-HMAC-SHA256`), checked against the
shared `CredentialStore` the way the service does (unknown key, bad or expired STS token, signature
mismatch with the string to sign in the error)."""

from __future__ import annotations

import base64
import hashlib
import hmac
from typing import Any
from urllib.parse import quote

from oss2.auth import ProviderAuth

from local.credentials import CredentialCheck
from local.oss_handler_base import OssHandlerBase
from local.oss_protocol import OssError

# The sub-resources that take part in the V1 canonical resource: the SDK's own table, which is the
# same list the service documents.
V1_SUBRESOURCES: frozenset[str] = frozenset(ProviderAuth._subresource_key_set)


def v4_encode(text: str, keep_slash: bool) -> str:
    safe = "_-~." + ("/" if keep_slash else "")
    return quote(text.encode("utf-8"), safe=safe)


def hmac_sha256(key: bytes, msg: str) -> bytes:
    return hmac.new(key, msg.encode("utf-8"), hashlib.sha256).digest()


class SignatureCheck(OssHandlerBase):
    """The handler's authentication step (a mixin of `OssRequestHandler`)."""

    # ---- authentication -------------------------------------------------------------------
    def _authenticate(self) -> None:
        h = {k.lower(): v for k, v in self.headers.items()}
        auth = h.get("authorization", "")
        if not auth:
            raise OssError(
                403,
                "AccessDenied",
                "You have no right to access this object because of bucket acl.",
            )
        if auth.startswith("OSS4-HMAC-SHA256 "):
            ak, provided, expected_fn = self._parse_v4(auth, h)
        elif auth.startswith("OSS "):
            ak, _, provided = auth[len("OSS ") :].rpartition(":")
            if not ak:
                raise OssError(400, "InvalidArgument", "Authorization header is invalid.")
            expected_fn = self._v1_signer(h)
        else:
            raise OssError(400, "InvalidArgument", "Authorization header is invalid.")
        self._info["access_key_id"] = ak
        outcome, creds = self.emulator.credentials.check(ak, h.get("x-oss-security-token"))
        if outcome == CredentialCheck.UNKNOWN_KEY or creds is None:
            raise OssError(
                403,
                "InvalidAccessKeyId",
                "The OSS Access Key Id you provided does not exist in our records.",
                {"OSSAccessKeyId": ak},
            )
        if outcome == CredentialCheck.BAD_TOKEN:
            raise OssError(
                403, "InvalidSecurityToken", "The security token you provided is invalid."
            )
        if outcome == CredentialCheck.EXPIRED_TOKEN:
            raise OssError(
                403, "SecurityTokenExpired", "The security token you provided has expired."
            )
        expected, string_to_sign = expected_fn(creds.access_key_secret)
        if not hmac.compare_digest(expected, provided):
            raise OssError(
                403,
                "SignatureDoesNotMatch",
                "The request signature we calculated does not match the signature you provided. "
                "Check your key and signing method.",
                {"StringToSign": string_to_sign, "OSSAccessKeyId": ak},
            )

    def _v1_signer(self, h: dict[str, str]) -> Any:
        canon_headers = "".join(
            f"{k}:{h[k]}\n" for k in sorted(k for k in h if k.startswith("x-oss-"))
        )
        resource = f"/{self._bucket}/{self._key}" if self._bucket else "/"
        sub = sorted(
            ((k, v) for k, v in self._query_pairs if k in V1_SUBRESOURCES), key=lambda kv: kv[0]
        )
        if sub:
            resource += "?" + "&".join(k + ("=" + v if v else "") for k, v in sub)
        string_to_sign = "\n".join(
            [
                self.command,
                h.get("content-md5", ""),
                h.get("content-type", ""),
                h.get("x-oss-date") or h.get("date", ""),
                canon_headers + resource,
            ]
        )

        def expected(secret: str) -> tuple[str, str]:
            digest = hmac.new(secret.encode(), string_to_sign.encode("utf-8"), hashlib.sha1)
            return base64.b64encode(digest.digest()).decode(), string_to_sign

        return expected

    def _parse_v4(self, auth: str, h: dict[str, str]) -> tuple[str, str, Any]:
        fields: dict[str, str] = {}
        for item in auth[len("OSS4-HMAC-SHA256 ") :].split(","):
            name, _, value = item.strip().partition("=")
            fields[name] = value
        try:
            ak, date, region, product, terminator = fields["Credential"].split("/")
            provided = fields["Signature"]
        except (KeyError, ValueError):
            raise OssError(400, "InvalidArgument", "Authorization header is invalid.") from None
        when = h.get("x-oss-date", "")
        if terminator != "aliyun_v4_request" or product != "oss" or when[:8] != date:
            raise OssError(
                400, "InvalidArgument", "Authorization header credential scope is invalid."
            )
        additional = sorted(a for a in fields.get("AdditionalHeaders", "").split(";") if a)
        signed = sorted(
            k
            for k in h
            if k.startswith("x-oss-") or k in ("content-type", "content-md5") or k in additional
        )
        canonical_query = "&".join(
            sorted(
                v4_encode(k, False) + ("=" + v4_encode(v, False) if v else "")
                for k, v in self._query_pairs
            )
        )
        uri = f"/{self._bucket}/{self._key}" if self._bucket else "/"
        canonical_request = "\n".join(
            [
                self.command,
                v4_encode(uri, True),
                canonical_query,
                "".join(f"{k}:{h[k]}\n" for k in signed),
                ";".join(additional),
                h.get("x-oss-content-sha256", "UNSIGNED-PAYLOAD"),
            ]
        )
        scope = f"{date}/{region}/{product}/{terminator}"
        string_to_sign = "\n".join(
            [
                "OSS4-HMAC-SHA256",
                when,
                scope,
                hashlib.sha256(canonical_request.encode("utf-8")).hexdigest(),
            ]
        )

        def expected(secret: str) -> tuple[str, str]:
            key = hmac_sha256(("aliyun_v4" + secret).encode(), date)
            for part in (region, product, terminator):
                key = hmac_sha256(key, part)
            return hmac.new(
                key, string_to_sign.encode(), hashlib.sha256
            ).hexdigest(), string_to_sign

        return ak, provided, expected
