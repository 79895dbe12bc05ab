"""Overview: the jobs at work (when there are), the active dataset (what it holds, which caches exist), the latest runs, the MLflow UI."""
from __future__ import annotations

import pandas as pd
import streamlit as st

from core import config, jobs
from core.errors import GenreLabError
from core.report import charts, results
from dashboard import common, job_panel

st.title("Overview")
root = common.active_root()

# --- jobs at work (after `make demo`: the demo data, then the studies) -----------------------------
try:
    working = any(j["status"] in jobs.ACTIVE for j in jobs.list_jobs())
except GenreLabError:
    working = False  # the Launch page says what is wrong with the job folder
if working:
    st.header("Jobs at work", divider="gray")
    job_panel.job_panel(active_only=True)

# --- dataset --------------------------------------------------------------------------------------
st.header("Dataset", divider="gray")
try:
    info = common.dataset_summary(root)
except GenreLabError as err:
    if working:
        st.info(f"{err}: a job above may be building it; this page fills in when it is done.",
                icon=":material/hourglass_top:")
    else:
        st.error(str(err), icon=":material/error:")
        st.markdown("Build the synthetic demo dataset with `make data`, or point `GENRELAB_DATA` at an FMA "
                    "root (`fma_metadata/tracks.csv` and `genres.csv`, audio in `fma_small/` ...).")
    info = None

if info is not None:
    kind = "synthetic demo data" if info["synthetic"] else "real data"
    st.subheader(f"{info['name']} · {kind}")
    st.caption(f"`{info['root']}`")
    common.note_synthetic(info["synthetic"])
    if info["description"]:
        st.write(info["description"])
    cols = st.columns(4)
    cols[0].metric("Tracks", f"{info['tracks']:,}")
    cols[1].metric("With a genre", f"{info['with_genre_top']:,}")
    cols[2].metric("Genres", len(info["genres"]))
    cols[3].metric("Audio files", f"{max(info['audio_folders'].values(), default=0):,}",
                   help="Files in the largest audio folder")

    left, right = st.columns(2)
    with left:
        st.plotly_chart(charts.count_bars(info["subsets"], "Tracks per subset", "subset"), key="subsets")
        st.plotly_chart(charts.count_bars(info["splits"], "Tracks per split", "split"), key="splits")
    with right:
        st.plotly_chart(charts.count_bars(info["genres"], "Tracks per genre (genre_top)", "genre",
                                          horizontal=True), key="genres")

    st.subheader("Files and caches")
    rows = [{"what": f"audio: {name}/", "present": True, "detail": f"{count:,} files"}
            for name, count in info["audio_folders"].items()]
    rows += [{"what": f"fma_metadata/{name}", "present": present, "detail": ""}
             for name, present in info["metadata_files"].items()]
    rows += [{"what": "parquet cache", "present": bool(info["parquet_cache"]),
              "detail": ", ".join(info["parquet_cache"])}]
    for cache in common.mel_caches(root):
        params = cache["params"]
        rows.append({"what": f"log-mel cache {cache['key']}", "present": True,
                     "detail": f"{cache['arrays']:,} tracks · {params.get('n_mels', '?')} mels · "
                               f"hop {params.get('hop_length', '?')} at {params.get('sr', '?')} Hz"})
    if not common.mel_caches(root):
        rows.append({"what": "log-mel cache", "present": False, "detail": "built by the CNN study"})
    rows += [{"what": "other", "present": True, "detail": name} for name in info["other_entries"] if name != "cache"]
    st.dataframe(pd.DataFrame(rows), hide_index=True,
                 column_config={"present": st.column_config.CheckboxColumn("present")})

# --- runs -----------------------------------------------------------------------------------------
st.header("Latest runs", divider="gray")
url = config.mlflow_ui_url()
if common.mlflow_ui_up(url):
    st.link_button("Open the MLflow UI", url, icon=":material/open_in_new:")
else:
    st.info(f"The MLflow UI is not running at {url}. Start it with `make mlflow` "
            "(or set GENRELAB_MLFLOW_UI to where it runs).", icon=":material/info:")
try:
    runs = common.load_runs()
except GenreLabError as err:
    st.error(str(err), icon=":material/error:")
else:
    latest = common.run_table(common.top_level(runs)).head(15)
    # Bare scores without their uncertainty stay out of this table; the results below carry theirs.
    latest = latest.drop(columns=["test_accuracy", "cv_accuracy_mean"], errors="ignore")
    if latest.empty:
        st.write("No runs yet: start one on the **Launch** page or with `python -m core run experiments/demo_mlp.toml`.")
    else:
        tree, older = results.tree(runs)
        common.note_synthetic(results.is_synthetic(tree))
        counts = runs["status"].value_counts()
        st.caption(" · ".join(f"{status.lower()}: {n}" for status, n in counts.items()) + f" ({len(runs)} runs in all)")
        st.dataframe(latest.assign(run_id=latest["run_id"].str[:8]), hide_index=True, column_config={
            "started": st.column_config.DatetimeColumn(format="YYYY-MM-DD HH:mm"),
            "minutes": st.column_config.NumberColumn(format="%.1f"), "run_id": "run id"})
        if older:
            st.info(results.OLD_STORE_NOTE, icon=":material/history:")
        scored = results.result_runs(tree)
        scored = scored[scored["kind"].isin(["search", "baseline"])].head(10)
        if len(scored):
            st.subheader("Latest results")
            # a static table wraps its cells: a score with its interval is never cut off at 1280 px
            st.table(results.score_table(scored, ["experiment", "name"]), hide_index=True)
            st.caption("CV: mean ± std of the best candidate's folds (the fold values beside it); test: the "
                       "refit model on the test split once, with its 95% interval and the number of test tracks "
                       "(and of their artists: the interval counts artists, whose tracks are not independent). "
                       "Compare them on the **Compare** page.")
