"""music_vae: symbolic melody, one 4/4 bar at a time, and the recurrent VAE that encodes it."""
