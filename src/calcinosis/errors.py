"""The one error tree of Calcinosis.

    CalcinosisError                 base; `.code` is a contract code, `.message` is safe to show
    ├── InputError                  the input cannot be assessed (CLI exit 1, HTTP 4xx)
    │   ├── InvalidJsonError        invalid-json
    │   ├── NotABundleError         not-a-bundle
    │   ├── InvalidResourceError    invalid-resource
    │   ├── NoPatientError          no-patient
    │   ├── MultiplePatientsError   multiple-patients
    │   ├── TooLargeError           too-large
    │   ├── UnreadableError         unreadable
    │   └── ExportError             invalid-export (a Bulk Data folder screening cannot read)
    ├── KnowledgeError              a knowledge directory failed validation (CLI exit 2)
    ├── UnitError                   a unit is not UCUM or cannot be converted to the one asked for
    ├── StartupError                the service cannot start (port busy, bad settings file)
    └── EngineUnavailableError      a screening engine cannot run here (no PySpark or Java)

Shells map this tree to exit codes or HTTP statuses in one place each; nothing else does.
Messages never carry patient values beyond what the user sent in the same request.
"""

from __future__ import annotations


class CalcinosisError(Exception):
    """Base of every error Calcinosis raises on purpose."""

    code = "error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InputError(CalcinosisError):
    code = "invalid-input"


class InvalidJsonError(InputError):
    code = "invalid-json"


class NotABundleError(InputError):
    code = "not-a-bundle"


class InvalidResourceError(InputError):
    code = "invalid-resource"


class NoPatientError(InputError):
    code = "no-patient"


class MultiplePatientsError(InputError):
    code = "multiple-patients"


class TooLargeError(InputError):
    code = "too-large"


class UnreadableError(InputError):
    code = "unreadable"


class ExportError(InputError):
    code = "invalid-export"


class KnowledgeError(CalcinosisError):
    """A knowledge file is invalid; the message names the file, the field and the reason."""

    code = "invalid-knowledge"

    def __init__(self, file: str, field: str, reason: str) -> None:
        super().__init__(f"{file}: {field}: {reason}")
        self.file = file
        self.field = field
        self.reason = reason


class UnitError(CalcinosisError):
    code = "unit-error"


class StartupError(CalcinosisError):
    code = "cannot-start"


class EngineUnavailableError(CalcinosisError):
    code = "engine-unavailable"
