"""video_vae: frames in, latent codes out (the convolutional VAE; see the render issue).

Frames (uint8 RGB, any size) are squashed to 64x64 (`preprocess`), encoded by a small
convolutional VAE (`model`) to 32 numbers, the music VAE's latent size, so that one code can be
carried into the other space. `trained_model.VideoVAE` is what the pipeline uses; `train` trains
on clips, image folders or the synthetic scenes of `scenes` (what the shipped model learned from),
and fine-tunes a model on a person's footage; `checkpoint` reads and writes the one-file format.
"""
