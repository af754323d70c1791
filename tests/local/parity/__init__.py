"""The parity matrix of ``streamway local --app``: one small app per third-party framework,
each served by uvicorn and by the catch-all proxy (test_matrix.py)."""
