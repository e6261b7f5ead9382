"""Uploads a file to wavekeep with tuspy (the tus client from PyPI), stops
halfway, and finishes it with a second uploader that resumes from the URL the
first stored (tuspy's own FileStorage, as an application would). Prints the
track id the upload became.

usage: tuspy_upload.py BASE_URL API_KEY FILE STORAGE_FILE
"""

import sys

import requests
from tusclient import client
from tusclient.storage.filestorage import FileStorage


def main() -> int:
    base, key, path, storage_file = sys.argv[1:5]
    tus = client.TusClient(base + "/api/uploads", headers={"Authorization": "Bearer " + key})
    storage = FileStorage(storage_file)
    size = len(open(path, "rb").read())
    meta = {"filename": path.rsplit("/", 1)[-1], "title": "From tuspy"}

    first = tus.uploader(path, chunk_size=64 * 1024, metadata=meta,
                         store_url=True, url_storage=storage, upload_checksum=True)
    first.upload(stop_at=size // 2)
    if not (0 < first.offset < size):
        print("first uploader did not stop halfway: offset %d of %d" % (first.offset, size))
        return 1

    # A new process would do this: same file, same storage → same upload URL.
    second = tus.uploader(path, chunk_size=64 * 1024, metadata=meta,
                          store_url=True, url_storage=storage, upload_checksum=True)
    if second.url != first.url:
        print("the second uploader did not find the stored URL")
        return 1
    if second.offset != first.offset:
        print("resume offset %d, expected %d" % (second.offset, first.offset))
        return 1
    second.upload()

    head = requests.head(second.url, headers={"Tus-Resumable": "1.0.0", "Authorization": "Bearer " + key})
    if head.headers.get("Upload-Offset") != str(size):
        print("HEAD says offset %s of %d" % (head.headers.get("Upload-Offset"), size))
        return 1
    print(head.headers.get("Wavekeep-Track-Id", ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
