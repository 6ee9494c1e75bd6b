"""Sync with remote indexes: pure planning (``_plan``, ``_hash``), leases, applying plans."""

from __future__ import annotations

from ._plan import SYNC_MODES, SyncMode, SyncPlan, plan_sync

__all__ = ["SYNC_MODES", "SyncMode", "SyncPlan", "plan_sync"]
