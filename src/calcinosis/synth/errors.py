"""Errors of `calcinosis synth`; each message is safe to show the user as one line.

SynthError: a run that cannot start (bad options, directory not empty)
└── SpecError: profiles.yaml is malformed or names a code the knowledge lacks
"""

from __future__ import annotations


class SynthError(ValueError):
    """A synthetic export that cannot be written; the message says why and what to do."""


class SpecError(SynthError):
    """The generator's data file is malformed or uses a code the knowledge base lacks."""
