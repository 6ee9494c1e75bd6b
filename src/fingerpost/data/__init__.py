"""Package data: the background corpus of ordinary turns (see NOTICE)."""
