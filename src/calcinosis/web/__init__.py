"""The web shell: REST API, CDS Hooks service and clinicians' web UI on one FastAPI app.

`calcinosis.web.app.create_app(settings)` builds the app; `calcinosis serve` runs it on uvicorn.
Nothing in the functional core imports this package.
"""
