from segflow.cli import run

run()
