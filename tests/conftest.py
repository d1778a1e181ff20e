import sys
from pathlib import Path

# Test helpers (builder.py, hostile.py) live beside the tests.
sys.path.insert(0, str(Path(__file__).resolve().parent))
