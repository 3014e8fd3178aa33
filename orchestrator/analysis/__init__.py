"""Analysis: stock selection, sentiment, forecasting, market regime and retrieval (RAG)."""
