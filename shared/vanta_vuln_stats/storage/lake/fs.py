"""Where a lake lives: a local directory or ``s3://bucket/prefix``, behind one pyarrow filesystem.

Every engine that touches S3 (boto3, pyarrow, DuckDB) must reach the same endpoint. boto3 reads
``AWS_ENDPOINT_URL_S3`` / ``AWS_ENDPOINT_URL`` by itself; pyarrow and DuckDB do not, so
``s3_endpoint()`` reads them once, in boto3's order, and the lake hands the result to pyarrow
(``endpoint_override`` + ``scheme``) and to DuckDB (``ENDPOINT`` + ``USE_SSL``). With neither
variable set, real S3 is used. moto, MinIO and S3 therefore work without code changes.

S3 writes go through pyarrow's S3 output stream: multipart uploads for large objects (in the
background, several parts at once) and the AWS SDK's standard retry strategy (exponential
backoff with jitter on throttling, 5xx and connection errors). Every object written is checked
against the bytes handed over (its size as S3 reports it) before a run commits.
"""

from __future__ import annotations

import os
import posixpath
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from vanta_vuln_stats.errors import StoreError

if TYPE_CHECKING:
    import pyarrow.fs as pafs

__all__ = ["LakeLocation", "S3Endpoint", "s3_endpoint"]

# Attempts per S3 request (the SDK's standard strategy backs off between them).
S3_MAX_ATTEMPTS = 6


@dataclass(frozen=True, slots=True)
class S3Endpoint:
    """A non-default S3 endpoint (moto, MinIO, a VPC endpoint): ``host:port`` and the scheme."""

    host: str
    scheme: str

    @property
    def use_ssl(self) -> bool:
        return self.scheme == "https"

    @property
    def url(self) -> str:
        return f"{self.scheme}://{self.host}"


def s3_endpoint(env: os._Environ[str] | dict[str, str] | None = None) -> S3Endpoint | None:
    """The S3 endpoint from ``AWS_ENDPOINT_URL_S3`` or ``AWS_ENDPOINT_URL`` (boto3's order), or
    None for AWS's own."""
    env = os.environ if env is None else env
    url = env.get("AWS_ENDPOINT_URL_S3") or env.get("AWS_ENDPOINT_URL")
    if not url:
        return None
    parts = urlsplit(url if "://" in url else f"https://{url}")
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise StoreError(f"AWS_ENDPOINT_URL {url!r} is not an http(s) URL.")
    return S3Endpoint(host=parts.netloc, scheme=parts.scheme)


def _region() -> str | None:
    return os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or None


@dataclass(frozen=True)
class LakeLocation:
    """A lake's root: ``uri`` as the user gave it, the pyarrow filesystem and the root path in
    it (``bucket/prefix`` on S3, an absolute directory locally). Paths are always ``/``-joined
    relative keys under the root."""

    uri: str
    filesystem: pafs.FileSystem
    root: str
    is_s3: bool

    @classmethod
    def parse(cls, uri: str) -> LakeLocation:
        import pyarrow.fs as pafs

        text = str(uri).strip()
        if not text:
            raise StoreError("The lake location is empty: give a directory or s3://bucket/prefix.")
        if text.startswith("s3://"):
            parts = urlsplit(text)
            bucket = parts.netloc
            if len(bucket) < 3:
                raise StoreError(f"The lake {text!r} names no S3 bucket (s3://bucket/prefix).")
            prefix = parts.path.strip("/")
            endpoint = s3_endpoint()
            options: dict[str, object] = {
                "retry_strategy": pafs.AwsStandardS3RetryStrategy(max_attempts=S3_MAX_ATTEMPTS),
                "background_writes": True,
            }
            if endpoint is not None:
                options["endpoint_override"] = endpoint.host
                options["scheme"] = endpoint.scheme
            region = _region()
            if region:
                options["region"] = region
            fs = pafs.S3FileSystem(**options)
            root = posixpath.join(bucket, prefix) if prefix else bucket
            return cls(uri=f"s3://{root}", filesystem=fs, root=root, is_s3=True)
        if "://" in text:
            raise StoreError(f"The lake {text!r} is neither a local directory nor an s3:// URI.")
        path = os.path.abspath(os.path.expanduser(text))
        if os.path.exists(path) and not os.path.isdir(path):
            raise StoreError(f"The lake {text} is a file, not a directory.")
        return cls(uri=path, filesystem=pafs.LocalFileSystem(), root=path, is_s3=False)

    # ----------------------------------------------------------------------------------------
    # Paths

    def path(self, key: str) -> str:
        """The filesystem path of a key under the root."""
        return posixpath.join(self.root, key) if not self.is_s3 else f"{self.root}/{key}"

    def url(self, key: str) -> str:
        """A URL another engine (DuckDB, Athena) can read the key at."""
        if self.is_s3:
            return f"s3://{self.root}/{key}"
        return os.path.join(self.root, *key.split("/"))

    def key_of(self, path: str) -> str:
        return path[len(self.root) + 1 :]

    def check_writable(self) -> None:
        """Fail early, with the reason, when the lake cannot be written (no such bucket, no
        access, a local folder that cannot be made)."""
        import pyarrow.fs as pafs

        if not self.is_s3:
            try:
                os.makedirs(self.root, exist_ok=True)
            except OSError as exc:
                raise StoreError(f"Cannot create the lake {self.uri}: {exc.strerror}.") from None
            return
        bucket = self.root.split("/", 1)[0]
        try:
            info = self.filesystem.get_file_info(bucket)
        except OSError as exc:
            raise StoreError(f"Cannot reach the lake {self.uri}: {_first_line(exc)}") from None
        if info.type == pafs.FileType.NotFound:
            raise StoreError(
                f"The S3 bucket {bucket} of the lake {self.uri} does not exist (or this AWS "
                "identity may not see it)."
            )

    # ----------------------------------------------------------------------------------------
    # Objects

    def write_bytes(self, key: str, data: bytes) -> int:
        """Write an object whole, atomically (one PUT on S3; a rename locally), so a reader sees
        the old object or the new one, never a part; returns its size."""
        self._ensure_parent(key)
        if self.is_s3:
            with self.filesystem.open_output_stream(self.path(key), compression=None) as out:
                out.write(data)
            return len(data)
        target = self.path(key)
        temporary = f"{target}.{os.getpid()}.tmp"
        with open(temporary, "wb") as out:
            out.write(data)
        os.replace(temporary, target)
        return len(data)

    def read_bytes(self, key: str) -> bytes:
        with self.filesystem.open_input_stream(self.path(key), compression=None) as stream:
            return stream.read()

    def size(self, key: str) -> int | None:
        """The object's size, None when it does not exist."""
        import pyarrow.fs as pafs

        info = self.filesystem.get_file_info(self.path(key))
        return None if info.type == pafs.FileType.NotFound else info.size

    def exists(self, key: str) -> bool:
        return self.size(key) is not None

    def list(self, prefix: str) -> Iterator[tuple[str, int]]:
        """(key, size) of every object under ``prefix`` (recursively); nothing when absent."""
        import pyarrow.fs as pafs

        selector = pafs.FileSelector(self.path(prefix), recursive=True, allow_not_found=True)
        for info in self.filesystem.get_file_info(selector):
            if info.type == pafs.FileType.File:
                yield self.key_of(info.path), info.size

    def delete(self, key: str) -> None:
        import pyarrow.fs as pafs

        path = self.path(key)
        if self.filesystem.get_file_info(path).type != pafs.FileType.NotFound:
            self.filesystem.delete_file(path)

    def open_output(self, key: str) -> pafs.NativeFile:  # type: ignore[name-defined]
        """A stream to write an object (multipart on S3); the object appears when it closes."""
        self._ensure_parent(key)
        return self.filesystem.open_output_stream(self.path(key), compression=None)

    def _ensure_parent(self, key: str) -> None:
        if not self.is_s3:
            os.makedirs(os.path.dirname(self.path(key)), exist_ok=True)

    def __repr__(self) -> str:
        return f"LakeLocation({self.uri!r})"


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
