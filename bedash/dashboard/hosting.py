"""Uploaded image folders on a server: unpacked once per file (kept in the session, so a rerun
neither unpacks it again nor retries a refused one), and the demo's disk kept in bounds."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from bedash.dashboard import settings
from bedash.dashboard.session import registry


def unpack_upload(upload) -> tuple[str | None, str | None]:
    """(dataset root, error) of an uploaded zip (a Streamlit UploadedFile)."""
    done = st.session_state.get("_upload")
    if done and done[0] == upload.file_id:
        return done[1], done[2]
    from bedash.data.uploads import UploadError, extract_dataset_zip
    from bedash.settings.profile import DEMO_MAX_UPLOAD_FILES, uploads_dir

    demo = settings.limits().name == "demo"
    uploads = uploads_dir(settings.settings())
    if demo:
        prune_uploads()
    root, error = None, None
    with st.spinner("Unpacking the zip and checking every image…"):
        try:
            path = extract_dataset_zip(
                upload.getvalue(),
                uploads,
                max_bytes=st.get_option("server.maxUploadSize") * 2**20,
                max_files=DEMO_MAX_UPLOAD_FILES if demo else 1_000_000,
                cache_dir=settings.data_dir() / "bedash-cache",  # the run reuses this decode
            )
            root = str(path)
        except UploadError as e:
            error = str(e)
    st.session_state["_upload"] = (upload.file_id, root, error)
    return root, error


def prune_uploads() -> list[Path]:
    """The demo keeps its disk: old uploads, or those beyond a total size, go when a new one
    arrives; the datasets of active jobs stay."""
    from bedash.data.housekeeping import prune_uploads as prune
    from bedash.settings.profile import DEMO_UPLOADS_MAX_AGE, DEMO_UPLOADS_MAX_BYTES, uploads_dir

    keep = [s.config.dataset for s in registry().jobs() if s.active]
    return prune(
        uploads_dir(settings.settings()),
        max_age_seconds=DEMO_UPLOADS_MAX_AGE,
        max_total_bytes=DEMO_UPLOADS_MAX_BYTES,
        keep=keep,
        cache_dir=settings.data_dir() / "bedash-cache",
    )
