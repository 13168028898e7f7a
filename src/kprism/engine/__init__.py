"""The observe → decide → act loop with deadlines, retries and an injectable clock."""
