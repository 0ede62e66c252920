"""An S3 ListObjectsV2 endpoint over a generated bucket of N keys, for million-key listings.

moto keeps every object and lists in time proportional to the whole bucket for each page, so a
million real keys there takes hours. This server answers only ``GET /<bucket>?list-type=2`` (path
style), computing each page from its continuation token: keys ``<prefix>k0000000.csv`` upwards, in
key order, with sizes, times and ETags that follow from the index. The client side (boto3's
paginator, dpone's S3Store and the file filter) is the real code; only the bucket's contents are
made up. Run as ``python listing_server.py <port> <keys>``.
"""

from __future__ import annotations

import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit
from xml.sax.saxutils import escape

PREFIX = "many/"


def key_of(index: int) -> str:
    """The key at ``index`` (zero-padded, so key order is index order)."""
    return f"{PREFIX}k{index:07d}.csv"


def page(total: int, start: int, size: int, bucket: str) -> bytes:
    """One ListObjectsV2 result page from key ``start``."""
    end = min(total, start + size)
    items = "".join(
        f"<Contents><Key>{escape(key_of(i))}</Key><LastModified>2026-11-01T00:00:00.000Z</LastModified>"
        f'<ETag>"{i:032x}"</ETag><Size>{100 + i % 50}</Size><StorageClass>STANDARD</StorageClass></Contents>'
        for i in range(start, end)
    )
    more = end < total
    token = f"<NextContinuationToken>{end}</NextContinuationToken>" if more else ""
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">'
        f"<Name>{escape(bucket)}</Name><Prefix>{PREFIX}</Prefix><KeyCount>{end - start}</KeyCount>"
        f"<MaxKeys>{size}</MaxKeys><IsTruncated>{'true' if more else 'false'}</IsTruncated>{token}{items}"
        "</ListBucketResult>"
    ).encode()


class Handler(BaseHTTPRequestHandler):
    """ListObjectsV2 only; anything else is a 501."""

    total = 0

    def do_GET(self) -> None:
        """Answer one listing page."""
        url = urlsplit(self.path)
        query = parse_qs(url.query)
        if query.get("list-type") != ["2"]:
            self.send_error(501, "only ListObjectsV2")
            return
        start = int(query.get("continuation-token", ["0"])[0])
        size = min(1000, int(query.get("max-keys", ["1000"])[0]))
        body = page(self.total, start, size, url.path.strip("/"))
        self.send_response(200)
        self.send_header("Content-Type", "application/xml")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: a million keys are a thousand requests."""


def main() -> None:
    """Serve on 127.0.0.1:<port> until killed."""
    port, total = int(sys.argv[1]), int(sys.argv[2])
    Handler.total = total
    ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()


if __name__ == "__main__":
    main()
