"""Example Dagster project built from dpone components."""
