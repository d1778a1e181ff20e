"""Alembic migrations of the registry schema (env.py, versions/); run through migrate.py."""
