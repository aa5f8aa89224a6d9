"""Plugins: hook specifications (hooks.py), loading (manager.py) and the example plugin."""
