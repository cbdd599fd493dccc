"""The gallery runner, `score-av live`: capture, engine, player, outputs and service, wired in runner.py."""
