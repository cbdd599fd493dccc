"""score_av: the audio-visual pipeline and the `score-av` command line."""
