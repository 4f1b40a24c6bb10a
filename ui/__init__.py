"""The ways in: the terminal (cli), the chat page (web) and the HTTP API (api); all thin over rag.Engine."""
