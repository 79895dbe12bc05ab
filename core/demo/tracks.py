"""Who plays what in the demo: artists, albums, tracks, tiers and splits, as FMA's tracks.csv columns.

``plan_dataset`` draws everything about the demo but its audio: per genre, artists with 1 to 6
tracks in albums of 1 to 4, each artist with a style from ``core.demo.styles``, real FMA
sub-genre ids, and FMA's kinds of values in all 52 tracks.csv columns (names, places, dates,
licences, listens). Every artist is in one split (80/10/10, as FMA's), so no artist is heard in
training and tested on. Tiers follow FMA: ``small`` (40 % of each genre) is inside ``medium`` (70 %)
inside ``large`` (all), each with the same split proportions.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from core.data import fma
from core.demo.styles import STYLES, draw_artist_style
from core.demo.synth import CLIP_SECONDS

#: Cumulative share of each genre's tracks in each tier (small ⊂ medium ⊂ large), as FMA's tiers nest.
TIER_SHARES = (("small", 0.4), ("medium", 0.7), ("large", 1.0))
SPLIT_SHARES = (("training", 0.8), ("validation", 0.1), ("test", 0.1))

_WORDS = ("amber", "quiet", "electric", "paper", "velvet", "hollow", "golden", "broken", "northern",
          "silver", "wild", "lonely", "crimson", "distant", "glass", "iron", "little", "midnight",
          "neon", "open", "pale", "rusty", "secret", "slow", "solar", "static", "summer", "tidal")
_NOUNS = ("river", "engine", "garden", "signal", "harbor", "mirror", "forest", "machine", "lantern",
          "canyon", "orchard", "station", "echo", "satellite", "meadow", "tower", "ocean", "letter",
          "circuit", "window", "compass", "ember", "parade", "valley", "thunder", "voyage", "cathedral")
_PLACES = (("Brooklyn, NY", 40.65, -73.95), ("Berlin, Germany", 52.52, 13.40), ("Montreal, Canada", 45.50, -73.57),
           ("Lagos, Nigeria", 6.52, 3.38), ("Lisbon, Portugal", 38.72, -9.14), ("Austin, TX", 30.27, -97.74),
           ("Tokyo, Japan", 35.68, 139.69), ("Sao Paulo, Brazil", -23.55, -46.63), ("Glasgow, Scotland", 55.86, -4.25),
           ("Istanbul, Turkey", 41.01, 28.98), ("Mumbai, India", 19.08, 72.88), ("Portland, OR", 45.52, -122.68))
_LICENSES = ("Attribution-NonCommercial-ShareAlike 3.0 International",
             "Attribution-Noncommercial-No Derivative Works 3.0 United States",
             "Creative Commons Attribution-NonCommercial-NoDerivatives 4.0",
             "Attribution-NonCommercial 3.0 International", "Attribution")
_LANGUAGES = {"International": ("fr", "es", "pt", "tr", "hi", "sw"), "Instrumental": ()}
_ALBUM_TYPES = ("Album", "Album", "Album", "Single Tracks", "Live Performance", "Radio Program")
_FIRST_DATE = np.datetime64("2008-11-25T12:00:00")  # FMA's first uploads
_LAST_DATE = np.datetime64("2017-03-30T12:00:00")  # FMA's dump


def _name(rng: np.random.Generator, words: int) -> str:
    picked = [_WORDS[i] for i in rng.choice(len(_WORDS), words - 1, replace=False)] + [_NOUNS[rng.integers(len(_NOUNS))]]
    return " ".join(picked).title()


def _date(rng: np.random.Generator, low: np.datetime64, high: np.datetime64) -> np.datetime64:
    span = int((high - low) / np.timedelta64(1, "s"))
    return low + np.timedelta64(int(rng.integers(span)), "s")


def _split_artists(sizes: list[int], filled: dict[str, int], rng: np.random.Generator) -> list[str]:
    """A split per artist (``sizes``: its track counts) so that split sizes approach SPLIT_SHARES.

    Largest artists first (ties in random order), each to the split whose share it brings closest
    to its target, so no artist is ever in two splits. ``filled`` (tracks per split so far) carries
    over between calls: genres too small for a test artist of their own still add up to 10 %.
    """
    total = sum(filled.values()) + sum(sizes)
    chosen = [""] * len(sizes)
    for i in sorted(rng.permutation(len(sizes)), key=lambda i: -sizes[i]):
        gain = {name: abs(share * total - filled[name] - sizes[i]) - abs(share * total - filled[name])
                for name, share in SPLIT_SHARES}
        chosen[i] = min(gain, key=gain.get)  # ties go to the first split, training
        filled[chosen[i]] += sizes[i]
    return chosen


def _tiers(count: int, rng: np.random.Generator) -> list[str]:
    """Tier labels for ``count`` tracks in random order: the first TIER_SHARES[0] small, and so on.

    The small tier gets at least one track, so that even a tiny build has every genre in every tier.
    """
    bounds = [max(round(share * count), 1 if count else 0) for _, share in TIER_SHARES]
    labels = np.empty(count, dtype=object)
    order = rng.permutation(count)
    start = 0
    for (tier, _), end in zip(TIER_SHARES, bounds):
        labels[order[start:end]] = tier
        start = end
    return list(labels)


def _ancestors(genre_id: int, parents: dict[int, int]) -> list[int]:
    """``genre_id`` and its parents up to the top level, sorted (FMA's ``genres_all``)."""
    chain = [genre_id]
    while parents[chain[-1]]:
        chain.append(parents[chain[-1]])
    return sorted(chain)


def _draw_artist(genre: str, artist_id: int, rng: np.random.Generator) -> dict:
    style = STYLES[genre]
    place = _PLACES[rng.integers(len(_PLACES))] if rng.random() < 0.6 else (None, np.nan, np.nan)
    name = _name(rng, int(rng.integers(1, 4)))
    begin = int(rng.integers(1985, 2016)) if rng.random() < 0.3 else None
    return {
        "id": artist_id, "name": name, "genre": genre, "style": draw_artist_style(genre, rng),
        "created": _date(rng, _FIRST_DATE, _LAST_DATE - np.timedelta64(400, "D")),
        "location": place[0], "latitude": place[1], "longitude": place[2],
        "begin": np.datetime64(f"{begin}-01-01T00:00:00") if begin else np.datetime64("NaT"),
        "bio": f"<p>{name} makes {genre.lower()} music{' in ' + place[0] if place[0] else ''}.</p>"
        if rng.random() < 0.5 else None,
        "website": f"http://{name.lower().replace(' ', '')}.example.org" if rng.random() < 0.4 else None,
        "favorites": int(rng.geometric(0.3)) - 1, "comments": int(rng.geometric(0.6)) - 1,
        "tags": [name.lower()] if rng.random() < 0.3 else [],
        "subgenres": [style.subgenres[i] for i in rng.choice(len(style.subgenres), 2, replace=False)],
    }


def _draw_album(artist: dict, album_id: int, n_tracks: int, rng: np.random.Generator) -> dict:
    created = _date(rng, artist["created"], _LAST_DATE)
    return {
        "id": album_id, "title": _name(rng, int(rng.integers(1, 4))), "created": created,
        "released": created - np.timedelta64(int(rng.integers(0, 2000)), "D") if rng.random() < 0.7
        else np.datetime64("NaT"),
        "type": _ALBUM_TYPES[rng.integers(len(_ALBUM_TYPES))], "tracks": n_tracks + int(rng.integers(0, 6)),
        "listens": int(rng.lognormal(7, 1.2)), "favorites": int(rng.geometric(0.4)) - 1,
        "comments": int(rng.geometric(0.7)) - 1,
        "information": "<p>Recorded at home.</p>" if rng.random() < 0.3 else None,
    }


def plan_dataset(tracks_per_genre: int, seed: int, genres: tuple[str, ...] = tuple(STYLES),
                 clip_seconds: float = CLIP_SECONDS) -> tuple[pd.DataFrame, dict[int, dict]]:
    """Everything about the demo but its audio: the tracks frame and each track's artist style.

    Returns ``(tracks, styles)``: ``tracks`` indexed by ``track_id`` with FMA's 52 ``TRACKS_COLUMNS``
    (``track.bit_rate`` is 0 until measured on the encoded clip) and ``styles[track_id]``, the artist
    parameters that ``render_clip`` varies per track. Deterministic for ``seed``.
    """
    rng = np.random.default_rng([seed, 1])
    parents = pd.read_csv(fma.GENRE_TABLE, index_col=0)["parent"].to_dict()
    filled = {name: 0 for name, _ in SPLIT_SHARES}
    next_ids = {"artist": int(rng.integers(1, 40)), "album": int(rng.integers(1, 40))}
    entries = [entry for genre in genres
               for entry in _genre_entries(genre, tracks_per_genre, filled, next_ids, rng)]
    rows, styles = _number_tracks(entries, clip_seconds, parents, rng)
    tracks = pd.DataFrame([[row[c] for c in fma.TRACKS_COLUMNS] for row in rows.values()],
                          index=pd.Index(list(rows), dtype=np.int64, name="track_id"),
                          columns=pd.MultiIndex.from_tuples(fma.TRACKS_COLUMNS))
    for column in fma.DATE_COLUMNS:
        tracks[column] = tracks[column].astype("datetime64[s]")
    return tracks, styles


def _genre_entries(genre: str, count: int, filled: dict[str, int], next_ids: dict[str, int],
                   rng: np.random.Generator) -> list[dict]:
    """``count`` tracks of ``genre`` as {artist, album, number, split, tier} entries.

    Artists have 1..6 tracks (3.5 on average); ``next_ids`` (the next artist and album ids) and
    ``filled`` (tracks per split so far) carry over from genre to genre.
    """
    sizes: list[int] = []
    while sum(sizes) < count:
        sizes.append(min(int(rng.integers(1, 7)), count - sum(sizes)))
    entries: list[dict] = []
    for size, split in zip(sizes, _split_artists(sizes, filled, rng)):
        artist = _draw_artist(genre, next_ids["artist"], rng)
        next_ids["artist"] += int(rng.integers(1, 25))
        entries += _artist_entries(artist, size, split, next_ids, rng)
    # Tiers are drawn within each split so that every tier keeps the 80/10/10 shares.
    for split, _ in SPLIT_SHARES:
        members = [e for e in entries if e["split"] == split]
        for entry, tier in zip(members, _tiers(len(members), rng)):
            entry["tier"] = tier
    return entries


def _artist_entries(artist: dict, size: int, split: str, next_ids: dict[str, int],
                    rng: np.random.Generator) -> list[dict]:
    """The ``size`` tracks of one artist, in albums of 1..4."""
    entries: list[dict] = []
    while size:
        n = min(size, int(rng.integers(1, 5)))
        size -= n
        album = _draw_album(artist, next_ids["album"], n, rng)
        next_ids["album"] += int(rng.integers(1, 25))
        entries += [{"artist": artist, "album": album, "number": k + 1, "split": split} for k in range(n)]
    return entries


def _number_tracks(entries: list[dict], clip_seconds: float, parents: dict[int, int],
                   rng: np.random.Generator) -> tuple[dict[int, dict], dict[int, dict]]:
    """tracks.csv rows and artist styles by track id.

    Ids follow upload order: albums in random order, an album's tracks consecutive, gaps between.
    """
    by_album: dict[int, list[dict]] = {}
    for entry in entries:
        by_album.setdefault(entry["album"]["id"], []).append(entry)
    track_id = 2  # FMA's first track id
    rows: dict[int, dict] = {}
    styles: dict[int, dict] = {}
    for key in rng.permutation(sorted(by_album)):
        for entry in by_album[int(key)]:
            rows[track_id] = _track_row(entry, clip_seconds, parents, rng)
            styles[track_id] = entry["artist"]["style"]
            track_id += 1
        track_id += int(rng.integers(0, 30))
    return rows, styles


def _track_row(entry: dict, clip_seconds: float, parents: dict[int, int], rng: np.random.Generator) -> dict:
    """One tracks.csv row as {(group, column): value} with FMA's kinds of values."""
    return {**_album_cells(entry["album"]), **_artist_cells(entry["artist"]),
            ("set", "split"): entry["split"], ("set", "subset"): entry["tier"],
            **_track_cells(entry, clip_seconds, parents, rng)}


def _album_cells(album: dict) -> dict:
    nan = None
    return {
        ("album", "comments"): album["comments"], ("album", "date_created"): album["created"],
        ("album", "date_released"): album["released"], ("album", "engineer"): nan,
        ("album", "favorites"): album["favorites"], ("album", "id"): album["id"],
        ("album", "information"): album["information"], ("album", "listens"): album["listens"],
        ("album", "producer"): nan, ("album", "tags"): [], ("album", "title"): album["title"],
        ("album", "tracks"): album["tracks"], ("album", "type"): album["type"],
    }


def _artist_cells(artist: dict) -> dict:
    nan = None
    return {
        ("artist", "active_year_begin"): artist["begin"], ("artist", "active_year_end"): np.datetime64("NaT"),
        ("artist", "associated_labels"): nan, ("artist", "bio"): artist["bio"],
        ("artist", "comments"): artist["comments"], ("artist", "date_created"): artist["created"],
        ("artist", "favorites"): artist["favorites"], ("artist", "id"): artist["id"],
        ("artist", "latitude"): artist["latitude"], ("artist", "location"): artist["location"],
        ("artist", "longitude"): artist["longitude"], ("artist", "members"): nan,
        ("artist", "name"): artist["name"], ("artist", "related_projects"): nan,
        ("artist", "tags"): artist["tags"], ("artist", "website"): artist["website"],
        ("artist", "wikipedia_page"): nan,
    }


def _track_cells(entry: dict, clip_seconds: float, parents: dict[int, int], rng: np.random.Generator) -> dict:
    artist, album = entry["artist"], entry["album"]
    genre = artist["genre"]
    # Most tracks carry the artist's main sub-genre, some a second one, a few only the top genre.
    draw = rng.random()
    genre_ids = ([STYLES[genre].genre_id] if draw < 0.1 else artist["subgenres"] if draw < 0.3
                 else artist["subgenres"][:1])
    genres_all = sorted({g for genre_id in genre_ids for g in _ancestors(genre_id, parents)})
    languages = _LANGUAGES.get(genre, ("en",))
    listens = int(rng.lognormal(6, 1.3))
    nan = None
    return {
        ("track", "bit_rate"): 0, ("track", "comments"): int(rng.geometric(0.8)) - 1,
        ("track", "composer"): nan,
        ("track", "date_created"): album["created"] + np.timedelta64(int(entry["number"] * rng.integers(30, 300)), "s"),
        ("track", "date_recorded"): np.datetime64("NaT"), ("track", "duration"): int(round(clip_seconds)),
        ("track", "favorites"): int(rng.geometric(0.5)) - 1, ("track", "genre_top"): genre,
        ("track", "genres"): list(genre_ids), ("track", "genres_all"): genres_all,
        ("track", "information"): nan, ("track", "interest"): int(listens * rng.uniform(1.2, 3)),
        ("track", "language_code"): languages[rng.integers(len(languages))] if languages and rng.random() < 0.4 else nan,
        ("track", "license"): _LICENSES[rng.integers(len(_LICENSES))], ("track", "listens"): listens,
        ("track", "lyricist"): nan, ("track", "number"): entry["number"], ("track", "publisher"): nan,
        ("track", "tags"): [], ("track", "title"): _name(rng, int(rng.integers(1, 4))),
    }


def genres_frame(tracks: pd.DataFrame) -> pd.DataFrame:
    """The real FMA genre rows that ``tracks`` use (with their ancestors); ``#tracks`` counted on ``tracks``
    as FMA counts it: tracks whose ``genres_all`` holds the genre."""
    table = pd.read_csv(fma.GENRE_TABLE, index_col=0)
    counts = pd.Series([g for ids in tracks["track", "genres_all"] for g in ids]).value_counts()
    genres = table.loc[sorted(counts.index)].copy()
    genres["#tracks"] = counts.reindex(genres.index).astype(np.int64)
    return genres
