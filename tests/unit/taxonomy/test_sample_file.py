"""Specification tests for the sample import file schemas/samples/testimonies.sample.jsonl.

The file holds fictional testimonies in the import format, one JSON object per line.  These
tests pin down that format (keys, enumerations, date rules) and check that every incident is
coded only with categories that exist in the violation taxonomy.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[3]
SAMPLE_PATH = REPO_ROOT / "schemas" / "samples" / "testimonies.sample.jsonl"
TAXONOMY_PATH = REPO_ROOT / "schemas" / "taxonomy" / "violations.v1.json"

CONSENT_SCOPES = {"internal_analysis", "un_mechanisms", "judicial_proceedings", "public_anonymised"}
DATE_PRECISIONS = {"year", "month", "day", "range"}
INVOLVEMENTS = {"victim", "direct_witness", "hearsay"}
LANGUAGES = {"ko", "en"}

TOP_KEYS = {"external_id", "case", "interview", "witness", "consent", "narrative", "incidents"}
INTERVIEW_KEYS = {"date", "place", "language", "interviewer"}
IDENTITY_KEYS = {"legal_name", "birth_year", "gender", "contact", "family_in_dprk"}
INCIDENT_KEYS = {
    "categories", "date", "date_precision", "place", "facility",
    "perpetrator_institution", "involvement", "description",
}

HANGUL = re.compile(r"[\uac00-\ud7a3]")
MIN_WORDS, MAX_WORDS = 150, 400


@pytest.fixture(scope="module")
def lines() -> list[str]:
    raw = SAMPLE_PATH.read_text(encoding="utf-8")
    assert raw.endswith("\n"), "JSONL file must end with a newline"
    return raw.splitlines()


@pytest.fixture(scope="module")
def records(lines) -> list[dict]:
    return [json.loads(line) for line in lines]


@pytest.fixture(scope="module")
def taxonomy_codes() -> set[str]:
    with TAXONOMY_PATH.open(encoding="utf-8") as fh:
        return {c["code"] for c in json.load(fh)["categories"]}


def _iso_day(value: str) -> dt.date:
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", value), value
    return dt.date.fromisoformat(value)


def _incident_start(incident: dict) -> dt.date:
    """Earliest day the incident's date can denote, for ordering checks."""
    value, precision = incident["date"], incident["date_precision"]
    if precision == "year":
        assert re.fullmatch(r"\d{4}", value), value
        return dt.date(int(value), 1, 1)
    if precision == "month":
        assert re.fullmatch(r"\d{4}-\d{2}", value), value
        year, month = map(int, value.split("-"))
        return dt.date(year, month, 1)  # raises on an impossible month
    return _iso_day(value)


# ------------------------------------------------------------------------------ format


def test_every_line_is_a_json_object(lines):
    assert len(lines) >= 8
    for number, line in enumerate(lines, start=1):
        assert line.strip(), f"blank line {number}"
        assert isinstance(json.loads(line), dict), f"line {number}"


def test_records_have_the_import_keys(records):
    for rec in records:
        assert TOP_KEYS <= rec.keys(), rec.get("external_id")
        assert INTERVIEW_KEYS <= rec["interview"].keys()
        assert {"pseudonym", "identity"} <= rec["witness"].keys()
        assert IDENTITY_KEYS <= rec["witness"]["identity"].keys()
        assert {"scopes", "given_on"} <= rec["consent"].keys()
        assert {"original", "translation_en"} <= rec["narrative"].keys()
        for incident in rec["incidents"]:
            assert INCIDENT_KEYS <= incident.keys(), rec["external_id"]


def test_identifiers_are_well_formed_and_unique(records):
    ids = [r["external_id"] for r in records]
    pseudonyms = [r["witness"]["pseudonym"] for r in records]
    assert all(re.fullmatch(r"SAMPLE-\d{4}", i) for i in ids), ids
    assert all(re.fullmatch(r"W-\d{4}", p) for p in pseudonyms), pseudonyms
    assert len(set(ids)) == len(ids)
    assert len(set(pseudonyms)) == len(pseudonyms)


def test_testimonies_span_several_cases(records):
    cases = {r["case"] for r in records}
    assert all(re.fullmatch(r"CASE-[A-Z0-9]+(-[A-Z0-9]+)*", c) for c in cases), cases
    assert 2 <= len(cases) <= 3


def test_interview_metadata(records):
    for rec in records:
        interview = rec["interview"]
        _iso_day(interview["date"])
        assert interview["place"].strip()
        assert interview["interviewer"].strip()
        assert interview["language"] in LANGUAGES
    languages = [r["interview"]["language"] for r in records]
    assert languages.count("ko") > languages.count("en"), "most interviews are in Korean"


def test_witness_identity(records):
    for rec in records:
        identity = rec["witness"]["identity"]
        interview_year = _iso_day(rec["interview"]["date"]).year
        assert identity["legal_name"].strip()
        assert isinstance(identity["birth_year"], int)
        assert 1900 <= identity["birth_year"] <= interview_year - 16
        assert identity["gender"] in {"female", "male"}
        assert identity["contact"].strip()
        assert isinstance(identity["family_in_dprk"], list)
        assert all(isinstance(f, str) and f.strip() for f in identity["family_in_dprk"])


def test_consent_scopes_and_date(records):
    for rec in records:
        scopes = rec["consent"]["scopes"]
        assert scopes, rec["external_id"]
        assert len(scopes) == len(set(scopes))
        assert set(scopes) <= CONSENT_SCOPES, set(scopes) - CONSENT_SCOPES
        _iso_day(rec["consent"]["given_on"])


def test_narratives_match_interview_language_and_length(records):
    for rec in records:
        narrative, lang = rec["narrative"], rec["interview"]["language"]
        original, translation = narrative["original"], narrative["translation_en"]
        assert MIN_WORDS <= len(original.split()) <= MAX_WORDS, rec["external_id"]
        if lang == "ko":
            assert HANGUL.search(original), rec["external_id"]
            assert isinstance(translation, str)
            assert MIN_WORDS <= len(translation.split()) <= MAX_WORDS, rec["external_id"]
            assert not HANGUL.search(translation), rec["external_id"]
        else:
            assert not HANGUL.search(original), rec["external_id"]
            assert translation is None, "English interviews need no translation"


# ----------------------------------------------------------------------------- incidents


def test_incident_count(records):
    for rec in records:
        assert 1 <= len(rec["incidents"]) <= 3, rec["external_id"]


def test_incident_categories_exist_in_taxonomy(records, taxonomy_codes):
    for rec in records:
        for incident in rec["incidents"]:
            codes = incident["categories"]
            assert codes, rec["external_id"]
            assert len(codes) == len(set(codes)), rec["external_id"]
            unknown = set(codes) - taxonomy_codes
            assert not unknown, f"{rec['external_id']}: unknown categories {sorted(unknown)}"


def test_incident_dates_match_precision(records):
    for rec in records:
        interviewed = _iso_day(rec["interview"]["date"])
        for incident in rec["incidents"]:
            precision = incident["date_precision"]
            assert precision in DATE_PRECISIONS, precision
            start = _incident_start(incident)
            if precision == "range":
                end = _iso_day(incident["date_end"])
                assert start <= end <= interviewed, rec["external_id"]
            else:
                assert "date_end" not in incident, rec["external_id"]
                assert start <= interviewed, rec["external_id"]


def test_incident_fields(records):
    for rec in records:
        for incident in rec["incidents"]:
            assert incident["involvement"] in INVOLVEMENTS, incident["involvement"]
            assert incident["place"].strip()
            assert incident["description"].strip()
            for key in ("facility", "perpetrator_institution"):
                value = incident[key]
                assert value is None or (isinstance(value, str) and value.strip()), key


@pytest.mark.parametrize("bad", ["2016-13", "2016-5", "16-05", "2016/05"])
def test_month_precision_rejects_malformed_dates(bad):
    with pytest.raises((AssertionError, ValueError)):
        _incident_start({"date": bad, "date_precision": "month"})
