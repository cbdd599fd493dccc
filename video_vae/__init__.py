"""video_vae: frames in, latent codes out (the convolutional VAE; see the render issue)."""
