"""Fitting and evaluating a router (placeholder; filled in with the FitTarget seam)."""
