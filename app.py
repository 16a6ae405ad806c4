"""The bedash dashboard: `streamlit run app.py`. Registers the pages; each lives in pages/."""

import streamlit as st

st.set_page_config(page_title="bedash", page_icon=":material/stacked_line_chart:", layout="wide")
st.navigation(
    [
        st.Page("pages/experiment.py", title="Experiment", icon=":material/model_training:"),
        st.Page("pages/results.py", title="Results", icon=":material/analytics:"),
        st.Page("pages/runs.py", title="Runs", icon=":material/history:"),
        st.Page("pages/sweeps.py", title="Sweeps", icon=":material/grid_on:"),
    ],
    position="top",
).run()
