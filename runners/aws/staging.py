"""Move files between this machine and the stack's bucket: content-addressed input up, results down."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError


def sha256(path: Path) -> str:
    """The content address of the input data (its key in the bucket)."""
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def split_uri(uri: str) -> tuple[str, str]:
    """``s3://bucket/key`` -> ``(bucket, key)``."""
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    return bucket, key


def upload_once(s3: Any, path: Path, uri: str, kms_key_arn: str | None) -> bool:
    """Upload ``path`` to ``uri`` unless an object is already there; True when it uploaded.

    The key holds the file's SHA-256, so an existing object has these very bytes: a re-run on the
    same data uploads nothing.
    """
    bucket, key = split_uri(uri)
    try:
        s3.head_object(Bucket=bucket, Key=key)
        return False
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") not in ("404", "NoSuchKey", "NotFound"):
            raise
    extra: dict[str, str] = {"ContentType": "text/csv"}
    if kms_key_arn:
        extra |= {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": kms_key_arn}
    s3.upload_file(str(path), bucket, key, ExtraArgs=extra)
    return True


def download(s3: Any, folder_uri: str, names: tuple[str, ...], destination: Path) -> list[Path]:
    """Fetch ``names`` from the S3 folder into ``destination``; a missing one is named in the error."""
    bucket, prefix = split_uri(folder_uri.rstrip("/"))
    destination.mkdir(parents=True, exist_ok=True)
    paths = []
    for name in names:
        target = destination / name
        try:
            s3.download_file(bucket, f"{prefix}/{name}", str(target))
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                raise FileNotFoundError(f"s3://{bucket}/{prefix}/{name} does not exist") from None
            raise
        paths.append(target)
    return paths


def read_text(s3: Any, uri: str) -> str | None:
    """The object's text, or None when there is no such object."""
    bucket, key = split_uri(uri)
    try:
        return s3.get_object(Bucket=bucket, Key=key)["Body"].read().decode()
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
            return None
        raise
