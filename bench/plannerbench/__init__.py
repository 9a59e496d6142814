"""Helpers of bench/planner.py: the search space and tasks, the lazy table, the claims arms.

Not a benchmark script itself (bench/run_all.sh runs bench/*.py only)."""
