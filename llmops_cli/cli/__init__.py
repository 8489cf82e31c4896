"""The command line. The only package that imports typer, rich and questionary.

A command body parses, calls one core function and prints. Heavy libraries are imported inside commands.
"""
