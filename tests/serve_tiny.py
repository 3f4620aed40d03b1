"""Serve the chat on a tiny corpus with the fake embedder, in its own process (for tests that
measure the server's memory). Usage: python tests/serve_tiny.py CORPUS DATA PORT [USER:PASSWORD]
Prints "READY <url> <upload folder>" when the server is up, then serves until killed."""

import sys

from rag.chatbot import Chatbot
from rag.embedding import HashEmbedder
from ui.app import parse_auth, serve


def main() -> None:
    corpus, data, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
    auth = parse_auth(sys.argv[4]) if len(sys.argv) > 4 else None
    bot = Chatbot.from_corpus(
        corpus, embedder=HashEmbedder(64), model="hash-64", data_dir=data, abstain_threshold=0.1
    )
    demo, url = serve(bot, port=port, auth=auth)
    print("READY", url, demo.upload_dir, flush=True)
    demo.block_thread()


if __name__ == "__main__":
    main()
