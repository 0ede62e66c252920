"""S3 failures as one-line dpone errors: no credentials, access denied, wrong region, no bucket."""

from __future__ import annotations

from botocore.exceptions import BotoCoreError, ClientError

from dpone_core.errors import ConfigurationError, DponeConnectionError, DponeError, TerminalError, TransientError

BOTO_ERRORS = (BotoCoreError, ClientError)
"""What boto3 raises for a failed request: what :func:`s3_error` turns into one line."""

_RETRYABLE = {
    "SlowDown",
    "ServiceUnavailable",
    "InternalError",
    "RequestTimeout",
    "RequestTimeTooSkewed",
    "ConditionalRequestConflict",
    "503",
    "500",
}
_DENIED = {"AccessDenied", "AllAccessDisabled", "403", "Forbidden"}
_BAD_KEYS = {"InvalidAccessKeyId", "SignatureDoesNotMatch", "InvalidToken", "ExpiredToken", "TokenRefreshRequired"}
_REGION = {"PermanentRedirect", "AuthorizationHeaderMalformed", "IllegalLocationConstraintException", "301"}


def s3_error(exc: BaseException, action: str, where: str, step: str) -> DponeError:
    """``exc`` (botocore's) raised while doing ``action`` on ``where`` (an ``s3://`` URI), as a dpone error.

    Only the action, the URI and the store's error code go into the message: never a key or token.
    """
    from botocore import exceptions as bx

    if isinstance(exc, bx.NoCredentialsError | bx.PartialCredentialsError | bx.ProfileNotFound):
        return ConfigurationError(
            f"s3 {action} {where}: no usable AWS credentials ({type(exc).__name__})",
            step=step,
            fix="set access_key_id and secret_access_key (as references), profile_name, or the AWS environment",
        )
    if isinstance(exc, bx.EndpointConnectionError | bx.ConnectTimeoutError | bx.ReadTimeoutError):
        return TransientError(
            f"s3 {action} {where}: cannot reach the endpoint ({type(exc).__name__})",
            step=step,
            fix="check endpoint_url and the network",
        )
    if isinstance(exc, bx.ClientError):
        error = exc.response.get("Error", {})
        code = str(error.get("Code", ""))
        region = exc.response.get("ResponseMetadata", {}).get("HTTPHeaders", {}).get("x-amz-bucket-region")
        return _client_error(code, action, where, step, region)
    return DponeConnectionError(f"s3 {action} {where}: {type(exc).__name__}", step=step, fix="check the s3 connection")


def _client_error(code: str, action: str, where: str, step: str, region: str | None) -> DponeError:
    text = f"s3 {action} {where}"
    if code in ("NoSuchBucket",):
        return ConfigurationError(f"{text}: the bucket does not exist", step=step, fix="check the connection's bucket")
    if code in _REGION:
        found = f" (it is in {region})" if region else ""
        return ConfigurationError(
            f"{text}: the bucket is in another region{found}", step=step, fix="set the connection's region"
        )
    if code in _BAD_KEYS:
        return DponeConnectionError(
            f"{text}: the store refused the credentials ({code})",
            step=step,
            fix="check access_key_id / secret_access_key (or the AWS profile) of the connection",
        )
    if code in _DENIED:
        return DponeConnectionError(
            f"{text}: access denied",
            step=step,
            fix="grant the credentials s3:ListBucket, s3:GetObject (s3:PutObject to write)",
        )
    if code in _RETRYABLE:
        return TransientError(f"{text}: the store is busy or failed ({code})", step=step, fix="retry later")
    if code in ("NoSuchKey", "404"):
        return TerminalError(f"{text}: no such key", step=step, fix="check the path")
    return DponeConnectionError(f"{text}: {code or 'error'}", step=step, fix="check the s3 connection")
