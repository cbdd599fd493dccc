"""Corpora: music21's collections and a person's own files, as bars of tokens split by tune."""
from .dataset import BarCorpus, load_corpus, split_of
from .sources import COLLECTIONS, DEFAULT_TRAINING_DATA

__all__ = ["BarCorpus", "load_corpus", "split_of", "COLLECTIONS", "DEFAULT_TRAINING_DATA"]
