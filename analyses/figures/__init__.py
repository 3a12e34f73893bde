"""Figures that only the scripts of analyses/ draw (`python analyses/x.py` puts analyses/ first on sys.path)."""
