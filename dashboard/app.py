"""FMA Genre Lab dashboard: ``streamlit run dashboard/app.py`` (or ``make dashboard``).

One file per page in ``dashboard/views/``; :data:`PAGES` is the menu, in order. A page whose file is
absent (``predict.py`` until the prediction area lands) is left out of the menu. The folder is not
called ``pages/``: beside the entry script that name switches Streamlit to its old multipage mode.
"""
from __future__ import annotations

import sys
from pathlib import Path

# `streamlit run` puts only dashboard/ on sys.path; pages import `core` and `dashboard.*`.
PROJECT_ROOT = Path(__file__).resolve().parent.parent
if str(PROJECT_ROOT) not in sys.path:
    sys.path.insert(0, str(PROJECT_ROOT))

import streamlit as st  # noqa: E402

from core.errors import GenreLabError  # noqa: E402
from dashboard import common  # noqa: E402

VIEWS_DIR = Path(__file__).resolve().parent / "views"
#: (file in views/, menu title, icon). The first is the default page.
PAGES = [
    ("overview.py", "Overview", ":material/dashboard:"),
    ("launch.py", "Launch", ":material/rocket_launch:"),
    ("compare.py", "Compare", ":material/monitoring:"),
    ("data.py", "Data", ":material/library_music:"),
    ("predict.py", "Predict", ":material/graphic_eq:"),
]

st.set_page_config(page_title="FMA Genre Lab", page_icon=":material/graphic_eq:", layout="wide")
pages = [st.Page(VIEWS_DIR / file, title=title, icon=icon, default=i == 0)
         for i, (file, title, icon) in enumerate(PAGES) if (VIEWS_DIR / file).exists()]
page = st.navigation(pages)
common.sidebar()
try:
    page.run()
except GenreLabError as err:
    st.error(str(err), icon=":material/error:")
