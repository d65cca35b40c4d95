"""The object store the pipeline's steps work in: the lake's bucket (boto3) or, for a local run,
a directory. The methods are ``LakeLocation``'s, so the commit protocol's functions (``open_day``,
``read_manifests``) run on either; this one needs no pyarrow, so the fetch, prepare and notify
functions can use it without the Parquet layer."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from vanta_vuln_stats.errors import StoreError

__all__ = ["ObjectStore", "open_store"]


class ObjectStore:
    """Keys under ``uri`` (``s3://bucket[/prefix]`` or a directory)."""

    def __init__(self, uri: str) -> None:
        self.uri = uri.rstrip("/")
        parts = urlsplit(uri)
        self.is_s3 = parts.scheme == "s3"
        if self.is_s3:
            if not parts.netloc:
                raise StoreError(f"{uri!r} names no bucket (expected s3://bucket[/prefix]).")
            self.bucket = parts.netloc
            self.prefix = parts.path.strip("/")
            self._client: Any = None
        else:
            self.bucket = ""
            self.prefix = ""
            self.root = Path(uri)

    def __repr__(self) -> str:
        return f"ObjectStore({self.uri!r})"

    @property
    def client(self) -> Any:
        if self._client is None:
            import boto3  # endpoint (AWS_ENDPOINT_URL) and region from the environment

            self._client = boto3.client("s3")
        return self._client

    def object_key(self, key: str) -> str:
        """The bucket key of a lake key (the prefix added)."""
        return f"{self.prefix}/{key}" if self.prefix else key

    def _path(self, key: str) -> Path:
        return self.root / key

    def write_bytes(self, key: str, data: bytes) -> int:
        if self.is_s3:
            self.client.put_object(Bucket=self.bucket, Key=self.object_key(key), Body=data)
        else:
            path = self._path(key)
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(path.name + ".tmp")
            tmp.write_bytes(data)
            os.replace(tmp, path)
        return len(data)

    def read_bytes(self, key: str) -> bytes:
        try:
            if self.is_s3:
                body = self.client.get_object(Bucket=self.bucket, Key=self.object_key(key))["Body"]
                return body.read()
            return self._path(key).read_bytes()
        except FileNotFoundError:
            raise StoreError(f"{key} does not exist in {self.uri}.") from None
        except Exception as exc:
            if _code(exc) in {"NoSuchKey", "404"}:
                raise StoreError(f"{key} does not exist in {self.uri}.") from None
            raise

    def size(self, key: str) -> int | None:
        if self.is_s3:
            try:
                head = self.client.head_object(Bucket=self.bucket, Key=self.object_key(key))
            except Exception as exc:
                if _code(exc) in {"404", "NoSuchKey", "NotFound"}:
                    return None
                raise
            return int(head["ContentLength"])
        path = self._path(key)
        return path.stat().st_size if path.is_file() else None

    def exists(self, key: str) -> bool:
        return self.size(key) is not None

    def delete(self, key: str) -> None:
        if self.is_s3:
            self.client.delete_object(Bucket=self.bucket, Key=self.object_key(key))
        else:
            self._path(key).unlink(missing_ok=True)

    def list(self, prefix: str) -> Iterator[tuple[str, int]]:
        """(key, size) of every object under ``prefix``, in key order."""
        if self.is_s3:
            paginator = self.client.get_paginator("list_objects_v2")
            start = self.object_key(prefix.rstrip("/")) + "/"
            cut = len(self.prefix) + 1 if self.prefix else 0
            for page in paginator.paginate(Bucket=self.bucket, Prefix=start):
                for item in page.get("Contents", []):
                    yield item["Key"][cut:], int(item["Size"])
            return
        base = self._path(prefix)
        if not base.is_dir():
            return
        for path in sorted(p for p in base.rglob("*") if p.is_file()):
            if not path.name.endswith(".tmp"):
                yield path.relative_to(self.root).as_posix(), path.stat().st_size

    def delete_many(self, keys: list[str]) -> None:
        """Delete ``keys`` (S3: DeleteObjects, 1,000 a call)."""
        if not self.is_s3:
            for key in keys:
                self.delete(key)
            return
        for start in range(0, len(keys), 1000):
            objects = [{"Key": self.object_key(k)} for k in keys[start : start + 1000]]
            self.client.delete_objects(
                Bucket=self.bucket, Delete={"Objects": objects, "Quiet": True}
            )

    def open_multipart(self, key: str) -> _Upload:
        """A writer that streams a large object (the run's backup) without holding it whole."""
        return _Upload(self, key)


class _Upload:
    """Appends bytes to one object: S3 multipart parts of at least 8 MB, or a local file."""

    PART = 8 * 1024 * 1024

    def __init__(self, store: ObjectStore, key: str) -> None:
        self.store, self.key = store, key
        self.size = 0
        self._buffer = bytearray()
        self._parts: list[dict[str, Any]] = []
        self._upload_id: str | None = None
        self._file: Any = None
        if not store.is_s3:
            path = store._path(key)
            path.parent.mkdir(parents=True, exist_ok=True)
            self._file = path.open("wb")

    def write(self, data: bytes) -> None:
        self.size += len(data)
        if self._file is not None:
            self._file.write(data)
            return
        self._buffer += data
        if len(self._buffer) >= self.PART:
            self._flush_part()

    def _flush_part(self) -> None:
        client, bucket, key = self.store.client, self.store.bucket, self.store.object_key(self.key)
        if self._upload_id is None:
            self._upload_id = client.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"]
        number = len(self._parts) + 1
        etag = client.upload_part(
            Bucket=bucket,
            Key=key,
            UploadId=self._upload_id,
            PartNumber=number,
            Body=bytes(self._buffer),
        )["ETag"]
        self._parts.append({"PartNumber": number, "ETag": etag})
        self._buffer = bytearray()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            return
        if self._upload_id is None:  # small: one PUT
            self.store.write_bytes(self.key, bytes(self._buffer))
            return
        if self._buffer:
            self._flush_part()
        self.store.client.complete_multipart_upload(
            Bucket=self.store.bucket,
            Key=self.store.object_key(self.key),
            UploadId=self._upload_id,
            MultipartUpload={"Parts": self._parts},
        )


def _code(exc: BaseException) -> str | None:
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        return str(response.get("Error", {}).get("Code"))
    return None


def open_store(uri: str) -> ObjectStore:
    return ObjectStore(uri)
