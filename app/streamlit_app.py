"""Rosetta's web app (Streamlit): `rosetta ui` runs it; the pages live in app/ui_pages/."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

HERE = Path(__file__).parent

st.set_page_config(
    page_title="Rosetta — multilingual search", page_icon=":material/translate:", layout="wide"
)
page = st.navigation(
    [
        st.Page(HERE / "ui_pages" / "search.py", title="Search", icon=":material/search:", default=True),
        st.Page(HERE / "ui_pages" / "ingest.py", title="Ingest", icon=":material/upload_file:"),
        st.Page(HERE / "ui_pages" / "explore.py", title="Explore", icon=":material/scatter_plot:"),
    ]
)
page.run()
