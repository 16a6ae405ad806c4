"""The bedash dashboard: `streamlit run app.py`. Registers the pages; each lives in pages/."""

from pathlib import Path

import streamlit as st

from bedash.dashboard.settings import settings_problem

# a local image: a :material/ or emoji favicon is fetched from an online service by the browser
ICON = Path(__file__).resolve().parent / "assets" / "favicon.png"
st.set_page_config(page_title="bedash", page_icon=str(ICON), layout="wide")
if problem := settings_problem():  # a BEDASH_* variable or secret bedash cannot use
    st.error(problem)
    st.stop()
st.navigation(
    [
        st.Page("pages/experiment.py", title="Experiment", icon=":material/model_training:"),
        st.Page("pages/results.py", title="Results", icon=":material/analytics:"),
        st.Page("pages/runs.py", title="Runs", icon=":material/history:"),
        st.Page("pages/sweeps.py", title="Sweeps", icon=":material/grid_on:"),
    ],
    position="top",
).run()
