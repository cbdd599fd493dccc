"""installations: ready-made set-ups on score_av (the gallery runner, batch rendering)."""
