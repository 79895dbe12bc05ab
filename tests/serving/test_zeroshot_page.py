"""The zero-shot model on the Predict page and in ``python -m core predict``: its raw tags and tag
timeline, and a plain word on what each model has heard (real music, or only the synthetic demo)."""
from __future__ import annotations

import contextlib
import io
import json

import pytest
from streamlit.testing.v1 import AppTest

from core.__main__ import main
from core.config import PROJECT_ROOT

PAGE = str(PROJECT_ROOT / "dashboard" / "views" / "predict.py")
CLIP = PROJECT_ROOT / "tests" / "data" / "music" / "muldjord_chaos_god.ogg"  # metal: 10 s, 3 segments
TIMEOUT = 180  # seconds: the first run loads the taggers
PRETRAINED = "pretrained on real music (not trained on your data)"
SYNTHETIC = "trained on synthetic demo data"


@pytest.fixture(scope="module")
def store(module_store) -> str:
    """genre-zeroshot/1 (``models register-zeroshot``: the champion) and genre-mlp/1 (demo-trained, promoted)."""
    from core.registry import promote, register_version
    from tests.registry import builders

    with contextlib.redirect_stdout(io.StringIO()):
        assert main(["models", "register-zeroshot"]) == 0
    model_uri, run_id = builders.log_feature("sklearn_mlp")
    register_version(model_uri, "genre-mlp", builders.card("sklearn_mlp", "features", run_id, 0.40))
    promote("genre-mlp", "1")
    return module_store


def page() -> AppTest:
    return AppTest.from_file(PAGE, default_timeout=TIMEOUT).run()


def figures(at: AppTest) -> list[dict]:
    return [json.loads(chart.proto.spec) for chart in at.get("plotly_chart")]


def test_the_picker_says_which_models_heard_real_music(store):
    at = page()
    assert not at.exception and not at.error
    lead = at.selectbox(key="lead")
    assert lead.value == "genre-zeroshot/1"  # the champion that has heard real music leads
    assert lead.options == ["genre-mlp/1 (synthetic demo)", "genre-zeroshot/1 (real music, pretrained)"]
    assert at.pills(key="others").value == ["genre-mlp/1"]  # the other champion
    assert not [c.value for c in at.caption if "champion" in c.value]  # both are champions: no note


def test_a_zero_shot_answer_shows_its_raw_tags_and_tag_timeline(store):
    at = page()
    at.file_uploader(key="upload").upload("chaos.ogg", CLIP.read_bytes(), "audio/ogg").run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert [s.value for s in at.subheader] == ["genre-zeroshot/1", "Other models"]
    captions = [c.value for c in at.caption]
    assert any(c.startswith(SYNTHETIC) for c in captions) and any(c.startswith(PRETRAINED) for c in captions)
    assert any(c.startswith(PRETRAINED) and "no test score" not in c and "nan" not in c for c in captions)
    table = at.dataframe[0].value
    assert table["model"].tolist() == ["genre-mlp/1"] and table["trained on"].tolist() == ["synthetic demo"]
    assert any(c.startswith("Cannot know Old-Time / Historic, Spoken: ") for c in captions)
    assert any(m.value.startswith("**Raw tags**") for m in at.markdown)
    assert [t.label for t in at.tabs][2:] == ["MSD_musicnn", "MTT_musicnn"]  # after Upload / Record
    # waveform, log-mel; the zero-shot's calibration (measured on the development set), bars and segment
    # timeline, then per tagger tags + taggram; the MLP's bars
    specs = figures(at)
    assert len(specs) == 2 + 1 + 3 + 2 * 2
    assert sum(s["layout"]["title"]["text"].startswith("Calibration<br>") for s in specs) == 1
    bars = [s for s in specs if s["layout"]["title"]["text"].startswith("Top tags of the clip")]
    assert [s["layout"]["title"]["text"] for s in bars] == ["Top tags of the clip (MSD_musicnn)",
                                                            "Top tags of the clip (MTT_musicnn)"]
    assert len(bars[0]["data"][0]["y"]) == 10 and bars[0]["data"][0]["y"][-1] == "metal"  # strongest drawn on top
    heatmaps = [s["data"][0] for s in specs if s["layout"]["title"]["text"].startswith("Tag timeline")]
    assert len(heatmaps) == 2 and all(h["type"] == "heatmap" for h in heatmaps)
    msd = heatmaps[0]
    assert len(msd["y"]) == 15 and msd["y"][0] == "metal"  # the clip's strongest tag first
    assert msd["x"] == pytest.approx([1.496, 4.488, 7.48])  # segment midpoints in seconds
    assert msd["z"]["shape"] == "15, 3"  # tags by segments (plotly encodes numpy arrays)


def test_demo_models_show_no_tags(store):
    at = page()
    at.selectbox(key="lead").set_value("genre-mlp/1")
    at.pills(key="others").set_value([]).run()
    at.file_uploader(key="upload").upload("chaos.ogg", CLIP.read_bytes(), "audio/ogg").run()
    assert not at.exception and not at.error
    assert len(at.tabs) == 2 and not any(m.value.startswith("**Raw tags**") for m in at.markdown)
    assert not any(c.startswith("Cannot know") for c in (c.value for c in at.caption))


def test_cli_text_shows_the_clips_top_tags_per_tagger(store, capsys):
    assert main(["predict", str(CLIP)]) == 0
    out = capsys.readouterr().out
    mlp, zeroshot = out.split(f"{CLIP}  [")[1:]
    assert "tags:" not in mlp
    lines = [line for line in zeroshot.splitlines() if " tags: " in line]
    assert [line.split(" tags: ")[0] for line in lines] == ["  MSD_musicnn", "  MTT_musicnn"]
    assert lines[0].startswith("  MSD_musicnn tags: metal ") and lines[0].count("%") == 5
