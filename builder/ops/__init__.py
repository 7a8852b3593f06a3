"""Operations: metrics and support-safe summaries from the ledger and its audit."""
