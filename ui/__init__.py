"""The browser chat: ``ui.chat`` holds the logic (a plain ``respond(message, history)`` and the
escaped rendering of answers and sources), ``ui.app`` wires it into a Gradio page and serves it.

Start it with ``rag chat`` (see ``rag chat --help``). Importing this package does not import Gradio.
"""
