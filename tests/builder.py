"""Small FHIR R4 bundle builder for tests, following ../shared/docs/fhir-profile.md."""

from __future__ import annotations

from typing import Any

LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
ICD = "http://hl7.org/fhir/sid/icd-10-cm"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"


class Bundle:
    def __init__(self, gender: str = "female", birth: str | None = "1990-01-01") -> None:
        self.entries: list[dict[str, Any]] = []
        patient: dict[str, Any] = {"resourceType": "Patient", "id": "p1", "gender": gender}
        if birth:
            patient["birthDate"] = birth
        self.add(patient)

    def add(self, resource: dict[str, Any]) -> dict[str, Any]:
        n = len(self.entries) + 1
        resource.setdefault("id", f"r{n}")
        if resource["resourceType"] != "Patient":
            resource.setdefault("subject", {"reference": "Patient/p1"})
        self.entries.append({"fullUrl": f"urn:uuid:{resource['id']}", "resource": resource})
        return resource

    def condition(self, text: str, icd: str | None = None, **extra: Any) -> dict[str, Any]:
        code: dict[str, Any] = {"text": text}
        if icd:
            code["coding"] = [{"system": ICD, "code": icd}]
        return self.add({"resourceType": "Condition", "code": code, **extra})

    def med(
        self, text: str, response: str = "unknown", rxnorm: str | None = None, **extra: Any
    ) -> dict[str, Any]:
        concept: dict[str, Any] = {"text": text}
        if rxnorm:
            concept["coding"] = [{"system": RXNORM, "code": rxnorm}]
        return self.add(
            {
                "resourceType": "MedicationStatement",
                "status": extra.pop("status", "completed"),
                "medicationCodeableConcept": concept,
                "note": [{"text": f"Treatment response: {response}."}],
                **extra,
            }
        )

    def lab(
        self,
        loinc: str,
        text: str,
        value: float | None = None,
        unit: str | None = None,
        flag: str | None = None,
        when: str = "2025-12-20",
    ) -> dict[str, Any]:
        obs: dict[str, Any] = {
            "resourceType": "Observation",
            "status": "final",
            "category": [
                {
                    "coding": [
                        {
                            "system": "http://terminology.hl7.org/CodeSystem/observation-category",
                            "code": "laboratory",
                        }
                    ]
                }
            ],
            "code": {"coding": [{"system": LOINC, "code": loinc}], "text": text},
            "effectiveDateTime": when,
        }
        if value is not None:
            obs["valueQuantity"] = {"value": value, "unit": unit, "system": UCUM, "code": unit}
        if flag:
            obs["interpretation"] = [
                {
                    "coding": [
                        {
                            "system": "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation",
                            "code": flag,
                        }
                    ]
                }
            ]
        return self.add(obs)

    def exam(self, label: str, **value: Any) -> dict[str, Any]:
        return self.add(
            {
                "resourceType": "Observation",
                "status": "final",
                "category": [
                    {
                        "coding": [
                            {
                                "system": "http://terminology.hl7.org/CodeSystem/observation-category",
                                "code": "exam",
                            }
                        ]
                    }
                ],
                "code": {"text": label},
                **value,
            }
        )

    def normal_labs(self) -> None:
        self.lab("17861-6", "Calcium", 9.4, "mg/dL", "N")
        self.lab("2777-1", "Phosphate", 3.5, "mg/dL", "N")
        self.lab("1751-7", "Albumin", 4.2, "g/dL", "N")
        self.lab("2160-0", "Creatinine", 0.8, "mg/dL", "N")

    def build(self) -> dict[str, Any]:
        return {"resourceType": "Bundle", "type": "collection", "entry": self.entries}


def acne_with_hard_papules(years: int = 8) -> Bundle:
    b = Bundle()
    b.condition("Acne vulgaris since her teens", icd="L70.0", onsetString="teens")
    b.exam(
        "Skin lesion consistency on palpation",
        valueCodeableConcept={"text": "hard"},
        bodySite={"text": "cheeks"},
    )
    b.exam("Skin lesion distribution (body sites)", valueString="cheeks")
    b.exam(
        "Duration of skin lesions",
        valueQuantity={"value": years, "unit": "a", "system": UCUM, "code": "a"},
    )
    return b
