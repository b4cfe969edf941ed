"""Reading finished runs back: statistics, the paper's reference numbers, sweep folders (for reports)."""
