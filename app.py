"""The bedash dashboard from a clone: `streamlit run app.py` (installed: `bedash dashboard`).
The pages live in pages/; the frame around them in bedash/dashboard/app.py."""

from bedash.dashboard.app import main

main()
