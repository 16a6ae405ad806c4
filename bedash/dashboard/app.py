"""The dashboard's frame, shared by `streamlit run app.py` (a clone) and `bedash dashboard` (an
installed package, which runs this file): page config, the start-up check of the BEDASH_*
settings, navigation. Page paths are relative to the entry script, and both entry scripts have
the pages beside them: the clone's pages/, and bedash/dashboard/pages/ in a wheel (pyproject maps
pages/ there)."""

from pathlib import Path

import streamlit as st

from bedash.dashboard.settings import settings_problem

# a local image: a :material/ or emoji favicon is fetched from an online service by the browser
ICON = Path(__file__).resolve().parent / "favicon.png"
PAGES = (
    ("pages/experiment.py", "Experiment", ":material/model_training:"),
    ("pages/results.py", "Results", ":material/analytics:"),
    ("pages/runs.py", "Runs", ":material/history:"),
    ("pages/sweeps.py", "Sweeps", ":material/grid_on:"),
)


def main() -> None:
    """One rerun of the app: every page goes through here (st.navigation)."""
    st.set_page_config(page_title="bedash", page_icon=str(ICON), layout="wide")
    if problem := settings_problem():  # a BEDASH_* variable or secret bedash cannot use
        st.error(problem)
        st.stop()
    pages = [st.Page(path, title=title, icon=icon) for path, title, icon in PAGES]
    st.navigation(pages, position="top").run()


if __name__ == "__main__":  # `bedash dashboard` from an installed package
    main()
