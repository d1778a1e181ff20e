"""The registry (shell): every patient's lesions, assessments, sessions and follow-ups, stored in
SQLite or PostgreSQL through SQLAlchemy, with Alembic migrations and an append-only audit trail.

    from calcinosis.registry.service import Registry   # the service API (service.py)

    database.py     which database (CALCINOSIS_DATABASE_URL) and connection settings
    models.py       the tables; migrations/ creates them (migrate.py runs Alembic)
    records.py      frozen records the API returns; validate.py checks values
    service.py      Registry: one audited transaction per call (transaction.py), built on
                    writes.py (new rows, version-checked edits) and store.py (queries)
    intake.py       a clinical Bundle -> patient, lesions, assessment
    planning.py     sessions and reviews planned from the knowledge's intervals
    due.py          who is due, overdue or lost to follow-up (the rule is documented there)
    overview.py     the clinic at a glance: every patient's status, outcomes
    timeline.py     the patient's course as ordered events
    fhir_export.py  / fhir_import.py: a patient as a FHIR Bundle and back, nothing lost
    backup.py       backup and restore; dump.py the portable JSON form of every table
    audit.py        append-only audit entries; errors.py the RegistryError tree
    accounts.py     users (clinician, admin), sign-in checks and events; credentials.py hashes
                    passwords (Argon2id) and API tokens
    demo.py         the demo registry of `calcinosis serve --demo`

Nothing here logs identifiers, names, birth dates or clinical values.
"""
