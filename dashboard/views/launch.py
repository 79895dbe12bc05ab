"""Launch: pick an experiment spec, edit its main settings, read the dry-run plan beside the Start button
(redone as the settings change), start it as a background job (``core.jobs``) and follow its progress;
the job outlives this page and the server."""
from __future__ import annotations

from pathlib import Path

import streamlit as st

from core import config
from core.errors import GenreLabError
from core.study import jobs as study_jobs
from core.study.spec import load_spec, split_override
from dashboard import common, job_panel

#: Spec keys (by their last part) offered in the form, with the label people read (the key is the help);
#: everything else is still settable as text.
MAIN_KEYS = {"sizes": "Dataset sizes", "subset": "FMA subset", "genres": "Genres", "n_candidates":
             "Candidates per search", "folds": "CV folds", "epochs": "Epochs", "clip_seconds":
             "Clip lengths (seconds)"}
#: The spec preselected for a root: a demo study on synthetic data, FMA's study on anything else.
FITTING_SPEC = {True: "demo_mlp.toml", False: "mlp_dataset_size.toml"}
SIZE_CHOICES = ["8k", "25k", "45k", "small", "medium", "large"]
OTHER_SPEC = "other spec file..."


@st.cache_data(ttl=600, show_spinner=False, max_entries=16)
def plan(spec: str, stamp: float, overrides: tuple[tuple[str, object], ...], root: str) -> str:
    return study_jobs.dry_run(spec, dict(overrides), root)


def plan_summary(text: str) -> str:
    """The plan's total line ("24 fits; about 3 min on 2 worker processes (CPU)"), else its last line."""
    lines = text.splitlines()
    return next((line.removeprefix("total: ") for line in lines if line.startswith("total: ")),
                lines[-1] if lines else "")


def main_settings(data: dict, prefix: str = "") -> list[tuple[str, object]]:
    """(dotted key, value) of the spec's main settings, in file order."""
    found = []
    for key, value in data.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, dict):
            found += main_settings(value, f"{dotted}.")
        elif key in MAIN_KEYS:
            found.append((dotted, value))
    return found


def setting_label(dotted: str, names: list[str]) -> str:
    """What a setting is called on the page: its human name, with its section when two settings share it
    (``cnn.epochs`` and ``autoencoder.epochs``)."""
    section, _, name = dotted.rpartition(".")
    label = MAIN_KEYS.get(name, dotted)
    section = "values searched" if section == "search.space" else section
    return f"{label} ({section})" if names.count(name) > 1 and section else label


def setting_widget(dotted: str, value: object, genres: list[str], label: str) -> object:
    """A form widget for one setting (``label`` shown, the spec key as its help); returns the value the
    user left or entered."""
    name = dotted.rsplit(".", 1)[-1]
    described = {"help": f"spec key `{dotted}`"}  # no widget key: another spec's defaults must not carry over
    if name == "sizes":
        return st.multiselect(label, SIZE_CHOICES, default=[v for v in value if v in SIZE_CHOICES], **described)
    if name == "subset":
        choices = ["small", "medium", "large"]
        return st.selectbox(label, choices, index=choices.index(value) if value in choices else 0, **described)
    if name == "genres":
        return st.multiselect(label, genres, default=[g for g in value if g in genres], **described)
    if isinstance(value, bool):
        return st.checkbox(label, value=value, **described)
    if isinstance(value, int):
        return int(st.number_input(label, min_value=2 if name == "folds" else 1, value=value, step=1, **described))
    if isinstance(value, float):
        return float(st.number_input(label, min_value=0.0, value=value, **described))
    if isinstance(value, list):
        return st.text_input(label, value=", ".join(str(v) for v in value),
                             **{**described, "help": f"spec key `{dotted}`, comma-separated"})
    return st.text_input(label, value=str(value), **described)


def overrides_from(form: dict[str, object], original: dict[str, object], extra: str) -> dict[str, object]:
    """The settings that differ from the spec, plus ``key=value`` lines typed by hand."""
    changed = {}
    for key, value in form.items():
        if isinstance(value, str) and isinstance(original[key], list):
            items = [v.strip() for v in value.split(",") if v.strip()]
            value = [_number(v) for v in items]
        if value != original[key]:
            changed[key] = value
    changed.update(split_override(line, "more settings:") for line in extra.splitlines() if line.strip())
    return changed


def _number(text: str) -> int | float | str:
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


st.title("Launch")
root = common.active_root()

try:
    summary = common.dataset_summary(root)
except GenreLabError as err:
    st.warning(f"{err} (the run will fail until the dataset root is fixed)", icon=":material/warning:")
    summary = {"genres": {}, "synthetic": False}

# --- the spec and its settings --------------------------------------------------------------------
names = [p.name for p in sorted(config.EXPERIMENTS_DIR.glob("*.toml"))] + [OTHER_SPEC]
if st.session_state.get("spec_root") != str(root):  # a new root: preselect the spec that fits it, once
    st.session_state["spec_root"] = str(root)
    fitting = FITTING_SPEC[bool(summary["synthetic"])]
    st.session_state["spec_choice"] = fitting if fitting in names else names[0]
choice = st.selectbox("Experiment spec", names, key="spec_choice",
                      help="Preselected for this data: a demo spec on synthetic data, FMA's dataset-size "
                           "study on FMA.")
if choice == OTHER_SPEC:
    typed = st.text_input("Spec file", key="spec_path", placeholder="/path/to/spec.toml")
    spec_path = Path(typed).expanduser() if typed else None
else:
    spec_path = config.EXPERIMENTS_DIR / choice
if spec_path is None:
    st.info("Type the path of a spec file (TOML, see experiments/).")
    st.stop()

try:
    spec = load_spec(spec_path)
except GenreLabError as err:
    st.error(str(err), icon=":material/error:")
    st.stop()
st.caption(f"`{spec_path}` · experiment **{spec.name}** · model family **{spec.family}** · data `{root}`")
if spec.description:
    st.write(spec.description)

settings = main_settings(spec.data)
settings += [(k, spec.get(k)) for k in ("search.n_candidates", "search.folds") if k not in dict(settings)]
genres = sorted(summary["genres"])
common.note_synthetic(summary["synthetic"])

cols = st.columns(2)
values = {}
last_parts = [dotted.rsplit(".", 1)[-1] for dotted, _ in settings]
for i, (dotted, value) in enumerate(settings):
    with cols[i % 2]:
        values[dotted] = setting_widget(dotted, value, genres, setting_label(dotted, last_parts))
extra = st.text_area("More settings (one `key=value` per line, value in TOML)", height=80,
                     placeholder="search.seed=1\ncompute.n_jobs=2")
try:
    overrides = overrides_from(values, dict(settings), extra)
except GenreLabError as err:
    st.error(str(err), icon=":material/error:")
    overrides = None

# The plan (fits, where they run, how long) beside the button that starts it, redone as settings change.
start_column, plan_column = st.columns([1, 4])
start = start_column.button("Start run", type="primary", icon=":material/play_arrow:", disabled=overrides is None)
with plan_column:
    if overrides is not None:
        try:
            with st.spinner("Planning (dry run)..."):
                text = plan(str(spec_path), spec_path.stat().st_mtime, tuple(overrides.items()), str(root))
            st.markdown(f"**Plan:** {plan_summary(text)}")
            with st.expander("The whole plan: fits and estimated time per search"):
                st.code(text, language=None)
        except GenreLabError as err:  # nothing failed yet: the run would, as the plan says
            st.warning(f"Not runnable as set: {err}", icon=":material/warning:")
if start and overrides is not None:
    try:
        job_id = study_jobs.submit(spec_path, overrides, root)
        st.success(f"Job {job_id} submitted: it runs in its own process and keeps running if you "
                   "close this page.", icon=":material/check_circle:")
    except GenreLabError as err:
        st.error(str(err), icon=":material/error:")


# --- jobs -----------------------------------------------------------------------------------------
st.header("Jobs", divider="gray")
job_panel.job_panel()
