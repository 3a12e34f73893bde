"""Per-head summaries of one checkpoint that combine the other analyses: its circuits (OV copying, composition,
the best induction head's partners) and its attention statistics (entropy, attention to previous / first / same token).
"""
