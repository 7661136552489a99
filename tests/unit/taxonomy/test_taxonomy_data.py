"""Specification tests for the violation taxonomy data (schemas/taxonomy/violations.v1.json).

The taxonomy is drawn from two reports of the UN Special Rapporteur on the situation of
human rights in the DPRK (the 2019 and 2022 reports).  These tests check that the data file
is well formed, that it is a proper two-level tree, that every category is labelled in English
and Korean and cited, that each cited paragraph exists in the report text and actually
discusses the category, and that no definition was copied from the reports.

The report texts are looked up in $CUSTODIA_SEEDS_DIR (CI sets it when the reports are
available beside the checkout), then <repo>/seeds. Tests that need the text are skipped (with a
reason) when neither exists, so the structural checks still run anywhere.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import re
from pathlib import Path

import jsonschema
import pytest

REPO_ROOT = Path(__file__).resolve().parents[3]
TAXONOMY_PATH = REPO_ROOT / "schemas" / "taxonomy" / "violations.v1.json"
SCHEMA_PATH = REPO_ROOT / "schemas" / "taxonomy" / "taxonomy.schema.json"

# The exact report texts the paragraph numbers refer to.
SEED_SHA256 = {
    "000_36ff4ae936103df4.txt": "025404dd76e9dd720550c162f326ce4f7ac89d022adc59b12eaa75fb195dbf85",
    "002_98d0c81c15414153.txt": "2ee5a9818daf384bb279b48f232d25a2f585d2d5d4e2a6a15961739cddf81ea3",
}
# Highest numbered paragraph in each report (both are numbered 1..N without gaps).
EXPECTED_LAST_PARAGRAPH = {"2019": 51, "2022": 54}

HANGUL = re.compile(r"[\uac00-\ud7a3]")
# A numbered paragraph starts a line with "N." followed by blank space ("2.5 per cent" is not one).
PARAGRAPH_START = re.compile(r"^[ \t]*(\d{1,3})\.[ \t]+", re.MULTILINE)
COPY_RUN = 8  # a definition may not share this many consecutive words with a report

# For every category: a pattern that each paragraph it cites must match (case-insensitive,
# whitespace collapsed).  This is a cheap guard that citations point at paragraphs that really
# discuss the category, not at neighbouring ones.  Keep it in step with the data file.
EVIDENCE = {
    "detention": r"detention|detain|prison|kwanliso|kuryujang",
    "detention.arbitrary_arrest": r"arbitrar\w* (arrest|detention)|arrest",
    "detention.kwanliso": r"kwanliso|political prison",
    "detention.kuryujang": r"kuryujang|detention facilities operated by the Ministry",
    "detention.kyohwaso": r"kyohwaso|reform through labour",
    "detention.labour_training": r"disciplining through labour",
    "detention.foreign_nationals": r"(United States|South Korean|foreign) (nationals|citizens|detainees)|nationals of the Republic of Korea",
    "detention.guilt_by_association": r"guilt by association|family will pay",
    "detention_conditions": r"conditions|food|water|medical",
    "detention_conditions.food": r"food",
    "detention_conditions.cells_sanitation": r"sanitation|water|cramped",
    "detention_conditions.medical_care": r"medical care|healthcare|health care",
    "detention_conditions.female_detainees": r"female (guards|detainees|officers)",
    "torture": r"tortur|ill-treat|beat|cruel",
    "torture.interrogation": r"confess|interrogation",
    "torture.stress_positions": r"still position",
    "torture.disciplinary_violence": r"discipline|disciplinary|beating",
    "sexual_violence": r"sexual|traffick",
    "sexual_violence.in_custody": r"sexual (abuse|violence)",
    "sexual_violence.invasive_search": r"strip search",
    "sexual_violence.trafficking_forced_marriage": r"traffick",
    "sexual_violence.trafficking_sexual_exploitation": r"sex work|commercial sex",
    "life": r"death penalty|shooting|die\b",
    "life.death_penalty": r"death penalty",
    "life.border_shooting": r"shooting individuals",
    "life.death_in_custody": r"if they die",
    "enforced_disappearance": r"disappear|abduct",
    "enforced_disappearance.political_prisoners": r"disappear|whereabouts",
    "enforced_disappearance.korean_war_abductees": r"kidnapped|abductees|Korean War abductees|abduction",
    "enforced_disappearance.post_war_abductees": r"post-war abductees",
    "enforced_disappearance.foreign_abductees": r"abduct",
    "enforced_disappearance.prisoners_of_war": r"prisoners? of war",
    "enforced_disappearance.paradise_on_earth": r"Paradise on Earth",
    "enforced_disappearance.withheld_fate": r"fate|whereabouts|right to truth|remains",
    "fair_trial": r"trial|due process|lawyers",
    "fair_trial.no_trial": r"without trial|without due process|without any legal or procedural guarantees",
    "fair_trial.judicial_independence": r"judiciary|judicial independence|rule of law",
    "fair_trial.counsel_family_access": r"lawyers|legal representation|family visits",
    "fair_trial.arbitrary_law": r"arbitrary implementation|criminal code|disproportionate punishments",
    "fair_trial.extortion": r"brib|corruption",
    "fair_trial.show_trial": r"public trial",
    "movement": r"movement|leave|travel",
    "movement.leave_country": r"leave|enter or leave|travell?ing outside|crosses the border",
    "movement.internal_travel": r"travel restrictions between cities|restrictions on movement in-country|travel within the country",
    "movement.residence_assignment": r"residency permits|where one can live",
    "repatriation": r"repatriat|forcibly return",
    "repatriation.refoulement": r"repatriat|refoulement|forcibly return",
    "repatriation.detention_abroad": r"detained in China|held at the Consulate|detained by China",
    "repatriation.denial_of_asylum": r"asylum",
    "repatriation.punishment_on_return": r"repatriat",
    "fundamental_freedoms": r"freedom|free media",
    "fundamental_freedoms.thought_expression": r"express|thought|opinion|critical",
    "fundamental_freedoms.information": r"information|media|movies",
    "fundamental_freedoms.foreign_contact": r"phone calls",
    "fundamental_freedoms.religion": r"religion",
    "fundamental_freedoms.association_assembly": r"association|civic groups|civil society",
    "fundamental_freedoms.surveillance": r"surveillance|tip-off",
    "fundamental_freedoms.political_participation": r"participat|elections",
    "economic_social": r"food|health|economic, social",
    "economic_social.food_insecurity": r"food insecur|hunger|food",
    "economic_social.child_malnutrition": r"stunting|minimum acceptable diet",
    "economic_social.food_distribution": r"Distribution System|food rations|minimum acceptable diet|distribution of goods",
    "economic_social.livelihood": r"market",
    "economic_social.health_care": r"health",
    "economic_social.reproductive_health": r"maternal|reproductive|women’s health",
    "economic_social.water_sanitation": r"water",
    "economic_social.pandemic_measures": r"COVID-19",
    "labour": r"labour|work",
    "labour.state_assignment": r"assign",
    "labour.mobilisation": r"mobili[sz]ed|forced labour",
    "labour.detention_labour": r"prison labour|forced labour in dangerous conditions",
    "labour.working_conditions": r"remuneration|compensation|working conditions|fair wages",
    "labour.trade_unions": r"trade unions|collective bargaining",
    "labour.child_labour": r"child labour",
    "discrimination": r"discriminat|inclusive|disabilities",
    "discrimination.songbun": r"songbun",
    "discrimination.residence": r"Pyongyang",
    "discrimination.gender": r"women|gender|sex-based",
    "discrimination.disability": r"disabilities",
    "discrimination.children": r"child",
    "separated_families": r"separated famil|family reunion|reunion",
    "separated_families.korean_war": r"separated famil|family reunion|reunion",
    "separated_families.second_cycle": r"second cycle|2nd cycle",}


# ----------------------------------------------------------------------------- fixtures


def _load_json(path: Path):
    with path.open(encoding="utf-8") as fh:
        return json.load(fh)


@pytest.fixture(scope="module")
def taxonomy() -> dict:
    return _load_json(TAXONOMY_PATH)


@pytest.fixture(scope="module")
def schema() -> dict:
    return _load_json(SCHEMA_PATH)


@pytest.fixture(scope="module")
def categories(taxonomy) -> list[dict]:
    return taxonomy["categories"]


@pytest.fixture(scope="module")
def by_code(categories) -> dict[str, dict]:
    return {c["code"]: c for c in categories}


def _seeds_dir() -> Path | None:
    candidates = []
    if os.environ.get("CUSTODIA_SEEDS_DIR"):
        candidates.append(Path(os.environ["CUSTODIA_SEEDS_DIR"]))
    candidates.append(REPO_ROOT / "seeds")
    for cand in candidates:
        if all((cand / name).is_file() for name in SEED_SHA256):
            return cand
    return None


@pytest.fixture(scope="module")
def report_texts(taxonomy) -> dict[str, str]:
    seeds = _seeds_dir()
    if seeds is None:
        pytest.skip("source reports not found; set CUSTODIA_SEEDS_DIR to the seeds directory")
    return {
        key: (seeds / src["file"]).read_text(encoding="utf-8", errors="replace")
        for key, src in taxonomy["sources"].items()
    }


def split_paragraphs(text: str) -> dict[int, str]:
    """Map paragraph number -> paragraph text (up to the next numbered paragraph).

    Only numbers that continue the running sequence (1, 2, 3, ...) start a paragraph, so a
    stray "12." inside a footnote cannot hijack the numbering.
    """
    paragraphs: dict[int, str] = {}
    starts: list[tuple[int, int]] = []
    expected = 1
    for match in PARAGRAPH_START.finditer(text):
        number = int(match.group(1))
        if number == expected:
            starts.append((number, match.start()))
            expected += 1
    for i, (number, start) in enumerate(starts):
        end = starts[i + 1][1] if i + 1 < len(starts) else len(text)
        paragraphs[number] = text[start:end]
    return paragraphs


@pytest.fixture(scope="module")
def report_paragraphs(report_texts) -> dict[str, dict[int, str]]:
    return {key: split_paragraphs(text) for key, text in report_texts.items()}


def _words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9]+", text.lower())


def _ngrams(words: list[str], n: int) -> set[tuple[str, ...]]:
    return {tuple(words[i : i + n]) for i in range(len(words) - n + 1)}


# ------------------------------------------------------------------------------- schema


def test_schema_is_valid_draft_2020_12(schema):
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    jsonschema.Draft202012Validator.check_schema(schema)


def test_taxonomy_validates_against_schema(taxonomy, schema):
    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(taxonomy), key=lambda e: list(e.absolute_path))
    assert not errors, "\n".join(f"{list(e.absolute_path)}: {e.message}" for e in errors)


@pytest.mark.parametrize(
    "mutate",
    [
        pytest.param(lambda d: d["categories"][1].update(code="Detention.Kwanliso"), id="uppercase-code"),
        pytest.param(lambda d: d["categories"][1]["label"].pop("ko"), id="missing-ko-label"),
        pytest.param(lambda d: d["categories"][1].update(citations=[]), id="no-citations"),
        pytest.param(lambda d: d["categories"][0].update(code="detention.x"), id="root-with-dotted-code"),
        pytest.param(lambda d: d["categories"][1].update(code="orphan"), id="child-with-flat-code"),
        pytest.param(lambda d: d["categories"][1].update(extra=1), id="unknown-field"),
        pytest.param(lambda d: d.update(version="1.0"), id="bad-version"),
        pytest.param(
            lambda d: d["categories"][1]["citations"][0].update(paragraphs=["9"]), id="string-paragraph"
        ),
    ],
)
def test_schema_rejects_malformed_documents(taxonomy, schema, mutate):
    broken = copy.deepcopy(taxonomy)
    mutate(broken)
    assert not jsonschema.Draft202012Validator(schema).is_valid(broken)


# -------------------------------------------------------------------------- tree shape


def test_identity_and_version(taxonomy):
    assert taxonomy["taxonomy"] == "custodia-dprk-violations"
    assert taxonomy["version"] == "1.0.0"
    assert set(taxonomy["sources"]) == {"2019", "2022"}


def test_codes_are_unique(categories):
    codes = [c["code"] for c in categories]
    duplicates = sorted({c for c in codes if codes.count(c) > 1})
    assert not duplicates


def test_parents_exist_and_prefix_child_codes(categories, by_code):
    for cat in categories:
        parent = cat["parent"]
        if parent is None:
            assert "." not in cat["code"], cat["code"]
            continue
        assert parent in by_code, f"{cat['code']}: unknown parent {parent}"
        assert cat["code"].startswith(parent + "."), cat["code"]
        segment = cat["code"][len(parent) + 1 :]
        assert re.fullmatch(r"[a-z0-9_]+", segment), cat["code"]


def test_no_cycles_and_at_most_three_levels(categories, by_code):
    for cat in categories:
        seen = {cat["code"]}
        node, depth = cat, 1
        while node["parent"] is not None:
            node = by_code[node["parent"]]
            assert node["code"] not in seen, f"cycle through {cat['code']}"
            seen.add(node["code"])
            depth += 1
        assert depth <= 3, cat["code"]


def test_every_top_level_category_has_children(categories):
    parents = {c["code"] for c in categories if c["parent"] is None}
    with_children = {c["parent"] for c in categories if c["parent"] is not None}
    assert parents, "no top-level categories"
    assert parents <= with_children, sorted(parents - with_children)


# ------------------------------------------------------------------- labels and content


def test_every_category_has_en_and_korean_labels(categories):
    for cat in categories:
        assert cat["label"]["en"].strip(), cat["code"]
        assert HANGUL.search(cat["label"]["ko"]), f"{cat['code']}: Korean label has no Hangul"


def test_labels_are_unique_per_language(categories):
    for lang in ("en", "ko"):
        labels = [c["label"][lang] for c in categories]
        assert len(labels) == len(set(labels)), lang


def test_every_category_has_definition_and_citation(categories, taxonomy):
    for cat in categories:
        assert len(cat["definition"].split()) >= 5, cat["code"]
        assert isinstance(cat["legal_basis"], list), cat["code"]
        assert cat["citations"], cat["code"]
        for citation in cat["citations"]:
            assert citation["report"] in taxonomy["sources"], cat["code"]
            assert citation["paragraphs"], cat["code"]


def test_evidence_table_matches_codes(by_code):
    """The citation check below must cover every category and nothing stale."""
    assert set(EVIDENCE) == set(by_code)


# ------------------------------------------------------------------ against the reports


def test_seed_files_are_the_cited_texts(taxonomy, report_texts):
    seeds = _seeds_dir()
    for src in taxonomy["sources"].values():
        digest = hashlib.sha256((seeds / src["file"]).read_bytes()).hexdigest()
        assert digest == SEED_SHA256[src["file"]], src["file"]


def test_paragraph_parser_finds_a_gapless_sequence(report_texts, report_paragraphs):
    for key, text in report_texts.items():
        numbers = [int(m.group(1)) for m in PARAGRAPH_START.finditer(text)]
        # every line-initial "N." in these reports is a paragraph number, in order
        assert numbers == list(range(1, EXPECTED_LAST_PARAGRAPH[key] + 1)), key
        assert sorted(report_paragraphs[key]) == numbers


def test_cited_paragraphs_exist(categories, report_paragraphs):
    for cat in categories:
        for citation in cat["citations"]:
            missing = [n for n in citation["paragraphs"] if n not in report_paragraphs[citation["report"]]]
            assert not missing, f"{cat['code']}: {citation['report']} report has no para. {missing}"


def test_cited_paragraphs_discuss_the_category(categories, report_paragraphs):
    failures = []
    for cat in categories:
        pattern = re.compile(EVIDENCE[cat["code"]], re.IGNORECASE)
        for citation in cat["citations"]:
            for number in citation["paragraphs"]:
                text = " ".join(report_paragraphs[citation["report"]][number].split())
                if not pattern.search(text):
                    failures.append(f"{cat['code']} -> {citation['report']} report, para. {number}")
    assert not failures, "citations that do not discuss the category:\n" + "\n".join(failures)


def test_definitions_are_not_copied_from_reports(categories, report_texts):
    report_runs: set[tuple[str, ...]] = set()
    for text in report_texts.values():
        report_runs |= _ngrams(_words(text), COPY_RUN)
    copied = {}
    for cat in categories:
        shared = _ngrams(_words(cat["definition"]), COPY_RUN) & report_runs
        if shared:
            copied[cat["code"]] = [" ".join(run) for run in sorted(shared)]
    assert not copied, copied


def test_copy_guard_detects_a_copied_sentence(report_texts):
    """The guard above must be able to fail: a verbatim report sentence is caught."""
    sentence = "Fundamental to the effective control of the population is a system of arbitrary detention"
    report_runs = set()
    for text in report_texts.values():
        report_runs |= _ngrams(_words(text), COPY_RUN)
    assert _ngrams(_words(sentence), COPY_RUN) & report_runs
