"""Data: browse the active dataset's tracks, listen to one, see its waveform, log-mel and 518 features."""
from __future__ import annotations

import streamlit as st

from core.errors import GenreLabError
from core.report import charts
from dashboard import common

#: The track picker lists at most this many of the filtered tracks (FMA large has 100k).
MAX_PICKER_TRACKS = 2000
st.title("Data")
root = common.active_root()
info = common.dataset_summary(root)
common.note_synthetic(info["synthetic"])
st.caption(f"{info['name']} at `{root}`")
tracks = common.tracks_table(root)

cols = st.columns(3)
genres = cols[0].multiselect("Genre", sorted(tracks["genre_top"].dropna().unique()), placeholder="all genres")
subsets = cols[1].multiselect("Subset", ["small", "medium", "large"], placeholder="all subsets",
                              help="FMA's subsets are nested: small ⊂ medium ⊂ large.")
splits = cols[2].multiselect("Split", ["training", "validation", "test"], placeholder="all splits")

shown = tracks
if genres:
    shown = shown[shown["genre_top"].isin(genres)]
if subsets:
    # A track of subset s belongs to every larger subset too.
    tiers = {"small": 0, "medium": 1, "large": 2}
    largest = max(tiers[s] for s in subsets)
    shown = shown[shown["subset"].map(tiers).le(largest).fillna(False)]
if splits:
    shown = shown[shown["split"].isin(splits)]

st.caption(f"{len(shown):,} of {len(tracks):,} tracks")
st.dataframe(shown, height=260, column_config={"duration": st.column_config.NumberColumn("duration (s)")})

if shown.empty:
    st.info("No track matches these filters.")
else:
    ids = shown.index[:MAX_PICKER_TRACKS].tolist()
    if len(shown) > MAX_PICKER_TRACKS:
        st.caption(f"The picker lists the first {MAX_PICKER_TRACKS:,}; narrow the filters to reach the others.")
    labels = shown["title"].astype("string").fillna("").to_dict()
    track_id = st.selectbox("Track", ids, key="track", format_func=lambda t: f"{t:06d} · {shown.at[t, 'genre_top']} · {labels[t]}")
    row = shown.loc[track_id]
    st.subheader(f"{track_id:06d} · {row['title']}")
    st.caption(f"{row['artist']} · {row['genre_top']} · subset {row['subset']} · split {row['split']}")

    from core.data.fma import audio_path

    path = audio_path(root, track_id)
    if path is None:
        st.info(f"No audio file for track {track_id:06d} under `{root}` (looked in fma_small/ ... fma_full/).")
    else:
        st.audio(str(path))
        try:
            clip = common.clip_preview(str(path), str(path))
        except GenreLabError as err:
            st.error(str(err), icon=":material/error:")
        else:
            common.show_clip(*clip)

    features = common.features_table(root)
    with st.expander("FMA features (518)", expanded=False):
        if features is None:
            st.write("This root has no `fma_metadata/features.csv` yet: compute it with `make features`.")
        elif track_id not in features.index:
            st.write(f"features.csv has no row for track {track_id:06d}.")
        else:
            values = features.loc[track_id].rename("value").reset_index()
            st.dataframe(values, hide_index=True, height=300)

st.header("Genre distribution", divider="gray")
st.plotly_chart(charts.genre_distribution(tracks), key="distribution", config=charts.TOOLBAR)
