"""dpone hooks for Airflow."""
