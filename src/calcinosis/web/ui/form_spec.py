"""The case form's questions and choices, and the FormSpec built from the knowledge base.

Choices whose words the engine reads (sites, colours, consistency, drug names) are plain words its
value sets' synonyms match; the history questions and the analytes and their units come from the
knowledge base, so the form only asks what the engine can read.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from calcinosis.core.knowledge import Knowledge


@dataclass(frozen=True)
class Option:
    value: str
    label: str


@dataclass(frozen=True)
class Treatment:
    key: str
    concept: str
    label: str
    text: str
    """MedicationStatement text; the engine reads the drug from it by the value set's synonyms."""
    coded: bool
    """Code with the value set's RxNorm code only where that code is the drug itself: a class
    such as "oral antibiotic" stays text (fhir-profile.md §4)."""


@dataclass(frozen=True)
class LabField:
    analyte: str
    label: str
    units: tuple[Option, ...]


NOT_STATED = Option("", "Not stated")
TRI_STATE = (NOT_STATED, Option("yes", "Yes"), Option("no", "No"))
SEXES = (
    Option("female", "Female"),
    Option("male", "Male"),
    Option("other", "Other"),
    Option("unknown", "Not known"),
)
ACNE_STATUS = (
    Option("", "Not recorded"),
    Option("active", "Yes, current"),
    Option("resolved", "Yes, in the past"),
)
ACNE_ONSET = (
    Option("", "Not known"),
    Option("childhood", "In childhood"),
    Option("teens", "In the teens"),
    Option("adulthood", "In adulthood"),
)
# Values are the response words of fhir-profile.md §4's note, so they go into the note as they are.
RESPONSES = (
    Option("", "Not given"),
    Option("responded", "Responded"),
    Option("partial", "Partial response"),
    Option("no response", "No response (failed)"),
    Option("unknown", "Given, response not known"),
)
TREATMENTS = (
    Treatment(
        "topical_retinoid", "topical-retinoid", "Topical retinoid", "Topical retinoid", False
    ),
    Treatment(
        "oral_antibiotic", "oral-antibiotic", "Oral antibiotic", "Oral antibiotic for acne", False
    ),
    Treatment("isotretinoin", "isotretinoin", "Isotretinoin (oral)", "Isotretinoin, oral", True),
)
MORPHOLOGIES = (
    NOT_STATED,
    Option("comedo-like papules", "Comedo-like papules"),
    Option("papules", "Papules"),
    Option("nodules", "Nodules"),
    Option("plaques", "Plaques"),
    Option("ulcerated nodules or plaques", "Ulcerated nodules or plaques"),
)
CONSISTENCIES = (
    NOT_STATED,
    Option("hard", "Hard"),
    Option("firm to hard", "Firm to hard"),
    Option("firm", "Firm"),
    Option("soft", "Soft"),
)
COLOURS = (
    NOT_STATED,
    Option("skin-coloured", "Skin-coloured"),
    Option("white", "White"),
    Option("yellow", "Yellow"),
    Option("red", "Red or inflamed"),
    Option("bluish", "Bluish"),
    Option("violaceous", "Violaceous"),
)
SITES = tuple(
    Option(word, word.capitalize())
    for word in (
        "cheeks",
        "forehead",
        "temples",
        "nose",
        "chin",
        "jawline",
        "eyelids",
        "ears",
        "chest",
        "back",
        "shoulders",
        "forearms",
        "hands",
        "fingers",
        "elbows",
        "knees",
        "abdomen",
        "thighs",
        "buttocks",
        "lower legs",
        "heels",
        "scrotum",
    )
)
DURATION_UNITS = (Option("a", "years"), Option("mo", "months"), Option("wk", "weeks"))
STAIN_RESULTS = (
    Option("", "Not done"),
    Option("positive", "Positive"),
    Option("negative", "Negative"),
)
LAB_FLAGS = (
    Option("", "—"),
    Option("normal", "Normal"),
    Option("high", "High"),
    Option("low", "Low"),
)

# Concept ids of the knowledge base the history questions name; their labels come from it.
CTD_CONCEPTS = ("systemic-sclerosis", "dermatomyositis", "lupus", "other-ctd")
KIDNEY_CONCEPTS = ("ckd", "advanced-ckd", "dialysis", "kidney-transplant")
HISTORY_CONCEPTS = ("trauma", "scar", "extravasation")
CALCIUM_INFUSION = "calcium-infusion"
# The analytes asked for, with the SI unit offered beside the knowledge's canonical one.
LAB_ANALYTES = {
    "calcium": "mmol/L",
    "albumin": "g/L",
    "phosphate": "mmol/L",
    "creatinine": "umol/L",
    "pth": "pmol/L",
    "vitamin-d-25": "nmol/L",
}
_UNIT_LABELS = {"umol/L": "µmol/L"}


@dataclass(frozen=True)
class FormSpec:
    """Everything the form template offers; built once per knowledge base."""

    ctd: tuple[Option, ...]
    kidney: tuple[Option, ...]
    history: tuple[Option, ...]
    calcium_infusion: str
    """The label of the calcium-infusion question; empty when the knowledge has no such concept."""
    labs: tuple[LabField, ...]

    @classmethod
    def from_knowledge(cls, kb: Knowledge) -> FormSpec:
        """Offers only what this knowledge base knows: another knowledge directory still works."""

        def concepts(ids: Sequence[str]) -> tuple[Option, ...]:
            return tuple(Option(c, sentence(kb.concepts[c].label)) for c in ids if c in kb.concepts)

        labs = []
        for aid, si_unit in LAB_ANALYTES.items():
            analyte = kb.analytes.get(aid)
            if analyte is None or not analyte.unit:
                continue
            units = dict.fromkeys((analyte.unit, si_unit))
            options = tuple(Option(u, _UNIT_LABELS.get(u, u)) for u in units)
            labs.append(LabField(aid, sentence(analyte.label), options))
        infusion = kb.concepts.get(CALCIUM_INFUSION)
        none = Option("", "None recorded")
        return cls(
            ctd=(none, *concepts(CTD_CONCEPTS)),
            kidney=(none, *concepts(KIDNEY_CONCEPTS)),
            history=concepts(HISTORY_CONCEPTS),
            calcium_infusion=sentence(infusion.label) if infusion else "",
            labs=tuple(labs),
        )


def sentence(label: str) -> str:
    """A knowledge label as the start of a sentence: "chronic kidney disease" -> "Chronic ..."."""
    return label[:1].upper() + label[1:]
