"""AppTest's entry script: runs dashboard/app.py from a folder that has no ``pages/`` beside it.

AppTest re-detects on every run whether the main script has a ``pages/`` folder beside it and, if so,
runs Streamlit's old multipage mode, which executes a switched-to page on its own, without app.py
around it (no sidebar, no error handling). ``streamlit run dashboard/app.py`` decides this once per
server and leaves that mode at app.py's first ``st.navigation`` call.
"""
import runpy

from core.config import PROJECT_ROOT

runpy.run_path(str(PROJECT_ROOT / "dashboard" / "app.py"), run_name="__main__")
