"""dpone operators for Airflow."""
