"""The official Dropbox SDK (the PyPI `dropbox` package) against `hemflux-sim dropbox`.

Usage: dropbox_client.py URL APP_KEY APP_SECRET REFRESH_TOKEN. The SDK speaks HTTPS to
Dropbox's hosts; a transport adapter sends those requests to the simulator instead, leaving
what the SDK sends untouched. Prints one JSON object for the Rust test to check.
"""

import hashlib
import json
import sys

import dropbox
import requests
from dropbox.exceptions import ApiError
from dropbox.files import FolderMetadata


class ToSimulator(requests.adapters.HTTPAdapter):
    def __init__(self, base: str) -> None:
        super().__init__()
        self.base = base

    def send(self, request, **kwargs):
        path = request.url.split("/", 3)[3]
        request.url = f"{self.base}/{path}"
        return super().send(request, **kwargs)


def content_hash(data: bytes) -> str:
    blocks = b"".join(hashlib.sha256(data[i:i + (4 << 20)]).digest()
                      for i in range(0, len(data), 4 << 20))
    return hashlib.sha256(blocks).hexdigest()


def route_error(call):
    try:
        call()
    except ApiError as err:
        return err.error
    raise AssertionError("the call succeeded")


def main(url: str, key: str, secret: str, refresh: str) -> None:
    session = requests.Session()
    session.mount("https://", ToSimulator(url))
    dbx = dropbox.Dropbox(oauth2_refresh_token=refresh, app_key=key, app_secret=secret,
                          session=session)
    data = b"meter;2026-01-01 00:00;12.5\n"
    up = dbx.files_upload(data, "/data/sdk_test.txt",
                          mode=dropbox.files.WriteMode.overwrite,
                          content_hash=content_hash(data))
    dbx.files_upload(b"second", "/data/sdk_test_2.txt")
    _, download = dbx.files_download("/data/sdk_test.txt")
    names = []
    page = dbx.files_list_folder("/data", limit=1)
    names += [e.name for e in page.entries]
    while page.has_more:
        page = dbx.files_list_folder_continue(page.cursor)
        names += [e.name for e in page.entries]
    mismatch = route_error(lambda: dbx.files_upload(b"other", "/data/bad.txt",
                                                    content_hash=content_hash(data)))
    on_file = route_error(lambda: dbx.files_list_folder("/data/sdk_test.txt"))
    dbx.files_upload(b"a", "/archive/a.txt")
    dbx.files_upload(b"c", "/archive/b/c.txt")
    deleted = dbx.files_delete_v2("/archive").metadata
    gone = route_error(lambda: dbx.files_list_folder("/archive"))
    dbx.files_delete_v2("/data/sdk_test.txt")
    print(json.dumps({
        "uploaded_hash_matches": up.content_hash == content_hash(data),
        "downloaded": download.content.decode(),
        "listed": names,
        "mismatch_refused": mismatch.is_content_hash_mismatch(),
        "list_on_file_not_folder": on_file.is_path() and on_file.get_path().is_not_folder(),
        "deleted_folder": isinstance(deleted, FolderMetadata),
        "folder_gone": gone.is_path() and gone.get_path().is_not_found(),
    }))


main(*sys.argv[1:5])
